"""Azure lookup tables: meter category -> FOCUS service category, GPU VM sizes -> GPU model/count.

Kept as data so the reader stays a pipeline of expressions. GPU sizes come from Microsoft's
VM size pages (N-series); a size is recognised only by its whole name, never by a substring
of an id.
"""

from __future__ import annotations

import polars as pl

# MeterCategory -> (ServiceCategory, ServiceSubcategory)
METER_CATEGORIES: dict[str, tuple[str, str]] = {
    "virtual machines": ("Compute", "Virtual Machines"),
    "virtual machines licenses": ("Compute", "Virtual Machines"),
    "azure kubernetes service": ("Compute", "Containers"),
    "container instances": ("Compute", "Containers"),
    "container registry": ("Compute", "Containers"),
    "functions": ("Compute", "Serverless Compute"),
    "azure batch": ("Compute", "Other (Compute)"),
    "cloud services": ("Compute", "Other (Compute)"),
    "storage": ("Storage", "Other (Storage)"),
    "backup": ("Storage", "Backup Storage"),
    "bandwidth": ("Networking", "Network Connectivity"),
    "virtual network": ("Networking", "Network Infrastructure"),
    "load balancer": ("Networking", "Network Infrastructure"),
    "vpn gateway": ("Networking", "Network Connectivity"),
    "expressroute": ("Networking", "Network Connectivity"),
    "application gateway": ("Networking", "Application Networking"),
    "azure front door service": ("Networking", "Content Delivery"),
    "content delivery network": ("Networking", "Content Delivery"),
    "azure dns": ("Networking", "Network Routing"),
    "network watcher": ("Networking", "Other (Networking)"),
    "azure firewall": ("Networking", "Network Security"),
    "azure openai": ("AI and Machine Learning", "Generative AI"),
    "cognitive services": ("AI and Machine Learning", "AI Platforms"),
    "azure machine learning": ("AI and Machine Learning", "Machine Learning"),
    "azure cognitive search": ("AI and Machine Learning", "Other (AI and Machine Learning)"),
    "sql database": ("Databases", "Relational Databases"),
    "sql managed instance": ("Databases", "Relational Databases"),
    "azure database for mysql": ("Databases", "Relational Databases"),
    "azure database for postgresql": ("Databases", "Relational Databases"),
    "azure cosmos db": ("Databases", "NoSQL Databases"),
    "redis cache": ("Databases", "Caching"),
    "azure synapse analytics": ("Analytics", "Data Processing"),
    "azure databricks": ("Analytics", "Data Processing"),
    "azure data factory v2": ("Analytics", "Data Processing"),
    "event hubs": ("Analytics", "Streaming Analytics"),
    "log analytics": ("Management and Governance", "Observability"),
    "azure monitor": ("Management and Governance", "Observability"),
    "insight and analytics": ("Management and Governance", "Observability"),
    "advanced threat protection": ("Security", "Threat Detection and Response"),
    "advanced data security": ("Security", "Threat Detection and Response"),
    "microsoft defender for cloud": ("Security", "Threat Detection and Response"),
    "key vault": ("Security", "Secret Management"),
    "azure app service": ("Web", "Application Platforms"),
    "service bus": ("Integration", "Messaging"),
    "logic apps": ("Integration", "Workflow Orchestration"),
    "api management": ("Integration", "API Management"),
}
# ConsumedService (lower-case) -> category, for rows without a meter category (purchases).
CONSUMED_SERVICES: dict[str, tuple[str, str]] = {
    "microsoft.compute": ("Compute", "Virtual Machines"),
    "microsoft.capacity": ("Compute", "Virtual Machines"),
    "microsoft.billingbenefits": ("Compute", "Virtual Machines"),
    "microsoft.cognitiveservices": ("AI and Machine Learning", "AI Platforms"),
    "microsoft.machinelearningservices": ("AI and Machine Learning", "Machine Learning"),
    "microsoft.storage": ("Storage", "Other (Storage)"),
    "microsoft.network": ("Networking", "Other (Networking)"),
}
OTHER = ("Other", "Other (Other)")

# VM size (lower-case, without "Standard_") -> (GPU model, GPUs per VM; None when fractional)
GPU_SIZES: dict[str, tuple[str, int | None]] = {
    "nd96isr_h100_v5": ("H100 80GB", 8),
    "nd96isr_h200_v5": ("H200", 8),
    "nd96isr_mi300x_v5": ("MI300X", 8),
    "nd96asr_v4": ("A100", 8),
    "nd96asr_a100_v4": ("A100", 8),
    "nd96amsr_a100_v4": ("A100 80GB", 8),
    "nc24ads_a100_v4": ("A100 80GB", 1),
    "nc48ads_a100_v4": ("A100 80GB", 2),
    "nc96ads_a100_v4": ("A100 80GB", 4),
    "nc40ads_h100_v5": ("H100 NVL", 1),
    "nc80adis_h100_v5": ("H100 NVL", 2),
    "nc4as_t4_v3": ("T4", 1),
    "nc8as_t4_v3": ("T4", 1),
    "nc16as_t4_v3": ("T4", 1),
    "nc64as_t4_v3": ("T4", 4),
    "nc6s_v3": ("V100", 1),
    "nc12s_v3": ("V100", 2),
    "nc24s_v3": ("V100", 4),
    "nc24rs_v3": ("V100", 4),
    "nv6ads_a10_v5": ("A10", None),
    "nv12ads_a10_v5": ("A10", None),
    "nv18ads_a10_v5": ("A10", None),
    "nv36ads_a10_v5": ("A10", 1),
    "nv36adms_a10_v5": ("A10", 1),
    "nv72ads_a10_v5": ("A10", 2),
}
GPU_METER_CATEGORIES = ("virtual machines", "azure machine learning")


def consumed_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_cons_key": list(CONSUMED_SERVICES),
            "_cons_cat": [v[0] for v in CONSUMED_SERVICES.values()],
            "_cons_sub": [v[1] for v in CONSUMED_SERVICES.values()],
        }
    )
