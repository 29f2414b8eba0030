"""The GCP billing export's vocabularies, as ingest/sources/gcp.py reads them.

What the export's values mean: its cost types (as FOCUS ChargeCategory), the credit types of
committed-use discounts (resource or spend), the SKU patterns of CUD fees and of what a resource
CUD commits, each service's FOCUS ServiceCategory and ServiceSubcategory, and how a GPU model and
count follow from a GPU SKU or a machine type. Lookup tables only: no reading, no rules.
"""

from __future__ import annotations

COST_TYPES = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment",
              "rounding_error": "Adjustment"}  # fmt: skip
CUD_CREDITS = {"COMMITTED_USAGE_DISCOUNT": "Usage", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": "Spend"}
CUD_RESOURCE = r"\b(GPU|Core|Cpu|Ram)\b"  # what a resource CUD fee SKU commits
CUD_FEE = r"^Commitment(?: v1:| - dollar based)"  # the SKUs of CUD fees
SPEND_FEE = r"^Commitment - dollar based"  # ... of which spend-based
SERVICES: dict[str, tuple[str, str]] = {
    "compute engine": ("Compute", "Virtual Machines"),
    "kubernetes engine": ("Compute", "Containers"),
    "cloud run": ("Compute", "Serverless Compute"),
    "cloud functions": ("Compute", "Serverless Compute"),
    "cloud tpu": ("AI and Machine Learning", "AI Platforms"),
    "vertex ai": ("AI and Machine Learning", "AI Platforms"),
    "gemini api": ("AI and Machine Learning", "Generative AI"),
    "cloud storage": ("Storage", "Object Storage"),
    "filestore": ("Storage", "File Storage"),
    "bigquery": ("Databases", "Data Warehouses"),
    "cloud sql": ("Databases", "Relational Databases"),
    "networking": ("Networking", "Network Connectivity"),
    "cloud cdn": ("Networking", "Content Delivery"),
    "cloud dns": ("Networking", "Network Routing"),
    "stackdriver logging": ("Management and Governance", "Observability"),
    "cloud logging": ("Management and Governance", "Observability"),
    "cloud monitoring": ("Management and Governance", "Observability"),
    "security command center": ("Security", "Security Posture Management"),
    "secret manager": ("Security", "Secret Management"),
    "pub/sub": ("Integration", "Messaging"),
    "dataflow": ("Analytics", "Data Processing"),
    "support": ("Management and Governance", "Support"),
}
GPU_SKU = (
    r"^(?:Spot Preemptible |Preemptible )?Nvidia (?:Tesla )?"
    r"([A-Z][0-9]+[A-Za-z]*(?: [0-9]+GB)?) GPU (?:running|attached)"
)
# Machine families whose price includes (or is defined by) GPUs.
GPU_MACHINES = {"a2-highgpu": "A100", "a2-megagpu": "A100", "a2-ultragpu": "A100 80GB",
                "a3-highgpu": "H100 80GB", "a3-megagpu": "H100 80GB", "a3-edgegpu": "H100 80GB",
                "a3-ultragpu": "H200", "g2-standard": "L4"}  # fmt: skip
G2_GPUS = {"4": 1, "8": 1, "12": 1, "16": 1, "32": 1, "24": 2, "48": 4, "96": 8}
