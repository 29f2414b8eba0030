"""AWS: CUR 2.0 Parquet per billing period, including a later restatement of one month."""

from __future__ import annotations

import calendar as pycal
import re
import zlib
from decimal import Decimal

import numpy as np

from ingest.sample.activity import billed_mask, host_state
from ingest.sample.company import Company, GpuHost, month_start, next_month
from ingest.sample.cur2 import CurWriter, Group, money
from ingest.sample.pricing import effective_rate, od_rate
from ingest.sample.truth import Ledger

P, SRC = "AWS", "aws-cur2"
REGION_PREFIX = {"us-east-1": "", "us-east-2": "USE2-", "us-west-2": "USW2-"}
LOCATION = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
}
FAMILY = {
    "p5": "GPU instance",
    "p4d": "GPU instance",
    "g5": "GPU instance",
    "g6": "GPU instance",
    "inf2": "Machine Learning ASIC Instances",
    "trn1": "Machine Learning ASIC Instances",
}
SPECS = {  # instance type -> (gpus, gpu memory, vcpu, memory)
    "p5.48xlarge": ("8", "640 GB", "192", "2048 GiB"),
    "p4d.24xlarge": ("8", "320 GB", "96", "1152 GiB"),
    "g5.2xlarge": ("1", "24 GB", "8", "32 GiB"),
    "g5.4xlarge": ("1", "24 GB", "16", "64 GiB"),
    "g5.xlarge": ("1", "24 GB", "4", "16 GiB"),
    "g6.12xlarge": ("4", "96 GB", "48", "192 GiB"),
    "g6.xlarge": ("1", "24 GB", "4", "16 GiB"),
    "inf2.8xlarge": ("1", "32 GB", "32", "128 GiB"),
    "trn1.32xlarge": ("16", "512 GB", "128", "512 GiB"),
}
SP_COMMITMENT = Decimal("66.048")  # $/hour, sized for the two p5 training nodes at the old rate
SP_NODES = 2  # the base fleet's Savings Plan nodes; a repeated fleet commits as much per copy
SP_ARN = "arn:aws:savingsplans::412395078111:savingsplan/3f1e6a2b-9c4d-4e7f-8a1b-2c3d4e5f6a7b"
RI_ARN = (
    "arn:aws:ec2:us-east-1:412395078111:reserved-instances/6d1c5a3e-8b2f-4a9e-9c7d-1e2f3a4b5c6d"
)
_COPY = re.compile(r"-r(\d+)$")  # the suffix of a repeated fleet's host (fleet.cloud_hosts)
Z = Decimal(0)


def _sku(text: str) -> str:
    """A stable SKU-like code (Python's hash() is salted per process, so not that)."""
    return f"{zlib.crc32(text.encode()):08X}{len(text):02d}"[:10]


def ri_arn(h: GpuHost) -> str:
    """The Reserved Instance of a reserved host: one per copy of the fleet, as each copy's
    instance needs a reservation of its own."""
    copy = _COPY.search(h.host)
    return RI_ARN if copy is None else f"{RI_ARN[:-4]}{int(copy[1]):04x}"


def _ms(dt) -> int:
    return int(dt.timestamp() * 1000)


class AwsMonth:
    """Emits every line of one billing period into a CurWriter and the ledger."""

    def __init__(
        self, company: Company, month: str, writer: CurWriter, ledger: Ledger, states: dict
    ) -> None:
        self.c, self.m, self.w, self.ledger, self.states = company, month, writer, ledger, states
        self.a, self.b = company.cal.month_hours(month)
        self.t0 = _ms(company.cal.start)
        self.mstart, self.mend = _ms(month_start(month)), _ms(month_start(next_month(month)))
        y, mo = (int(x) for x in month.split("-"))
        self.days = pycal.monthrange(y, mo)[1]
        self.rng = np.random.default_rng([company.seed, 11, y * 12 + mo])
        self.sp_used = Z
        self.sp_gpu: str | None = None  # GPU model the Savings Plan covered this month
        # A bigger fleet buys a bigger plan: its covered usage never exceeds the commitment,
        # as AWS applies a plan only up to its hourly commitment.
        sp_nodes = sum(h.pricing == "savings_plan" for h in company.hosts_of("aws"))
        self.sp_commitment = SP_COMMITMENT * max(1, -(-sp_nodes // SP_NODES))
        self.ri: list[tuple[GpuHost, Decimal, int]] = []  # reserved hosts, rate, used hours

    def base(self, team: str, entity: str = "AWS") -> dict:
        t = self.c.team(team)
        return {
            "bill_bill_type": "Anniversary",
            "bill_billing_entity": entity,
            "bill_invoice_id": f"{self.m.replace('-', '')}{self.c.payer_account[-6:]}",
            "bill_invoicing_entity": "Amazon Web Services, Inc.",
            "bill_payer_account_id": self.c.payer_account,
            "bill_payer_account_name": "Acme Neural Labs",
            "line_item_currency_code": "USD",
            "line_item_legal_entity": "Amazon Web Services, Inc.",
            "line_item_usage_account_id": t.aws_account,
            "line_item_usage_account_name": f"acme-{team}",
            "pricing_currency": "USD",
            "cost_category": [("business_unit", "ai-platform" if team == "platform" else "ml")],
        }

    def emit(
        self,
        consts: dict,
        n: int,
        start,
        end,
        usage,
        billed,
        effective,
        *,
        team: str,
        workload: str | None = None,
        egress: str | None = None,
        public: Decimal | list | None = None,
        extra: dict | None = None,
    ) -> None:
        b_tot, b_col = money(billed, n)
        e_tot, _ = money(effective, n)
        p_col = money(public, n)[1] if public is not None else b_col
        nums = {
            "bill_billing_period_start_date": self.mstart,
            "bill_billing_period_end_date": self.mend,
            "line_item_usage_start_date": start,
            "line_item_usage_end_date": end,
            "line_item_usage_amount": usage,
            "line_item_unblended_cost": b_col,
            "line_item_net_unblended_cost": b_col,
            "line_item_blended_cost": b_col,
            "pricing_public_on_demand_cost": p_col,
            **(extra or {}),
        }
        self.w.add(Group(consts, n, nums))
        self.ledger.charge(
            provider=P,
            source=SRC,
            period=self.m,
            billed=b_tot,
            effective=e_tot,
            team=team,
            workload=workload,
            egress=egress,
            lines=n,
        )

    # --- instance hours ---------------------------------------------------------------
    def host(self, h: GpuHost) -> None:
        if h.bulk:
            hours = np.arange(self.a, self.b)
        else:
            state = self.states.get(h.index)
            if state is None:
                state = self.states[h.index] = host_state(self.c.seed, self.c.cal, h)
            hours = np.flatnonzero(billed_mask(h, state[self.a : self.b])) + self.a
        n = int(hours.size)
        if n == 0:
            return
        start = self.t0 + hours * 3_600_000
        end = start + 3_600_000
        od = od_rate(self.c, h, self.m)
        eff = effective_rate(self.c, h, self.m)
        itype = h.instance_type.removeprefix("ml.")
        fam = itype.split(".")[0]
        gpus, gmem, vcpu, mem = SPECS[itype]
        pre = REGION_PREFIX[h.region]
        if h.service.startswith("sagemaker"):
            op = {
                "sagemaker-train": "Train",
                "sagemaker-processing": "Processing",
                "sagemaker-host": "Host",
                "sagemaker-notebook": "Notebk",
            }[h.service]
            utype = f"USE1-{op}:{h.instance_type}"
            code, pname, pfam = "AmazonSageMaker", "Amazon SageMaker", "ML Instance"
            operation = {
                "Train": "CreateTrainingJob",
                "Processing": "CreateProcessingJob",
                "Host": "RunInstance",
                "Notebk": "RunInstance",
            }[op]
        else:
            utype = f"{pre}BoxUsage:{itype}"
            code, pname, pfam = "AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance"
            operation = "RunInstances"
        tags = [
            ("user_team", h.team),
            ("user_project", f"{h.team}-{h.workload}"),
            ("user_workload", h.workload),
            ("user_env", "prod"),
        ]
        consts = {
            **self.base(h.team),
            "line_item_availability_zone": f"{h.region}a",
            "line_item_operation": operation,
            "line_item_product_code": code,
            "line_item_resource_id": h.resource_id,
            "line_item_usage_type": utype,
            "line_item_line_item_type": "Usage",
            "line_item_line_item_description": (
                f"${od} per On Demand Linux {h.instance_type} Instance Hour"
            ),
            "line_item_unblended_rate": str(od),
            "line_item_net_unblended_rate": str(od),
            "line_item_blended_rate": str(od),
            "pricing_public_on_demand_rate": str(od),
            "pricing_term": "OnDemand",
            "pricing_unit": "Hrs",
            "pricing_purchase_option": None,
            "product": [
                ("product_name", pname),
                ("gpu", gpus),
                ("gpu_memory", gmem),
                ("vcpu", vcpu),
                ("memory", mem),
                ("operating_system", "Linux"),
                ("tenancy", "Shared"),
            ],
            "product_instance_family": FAMILY.get(fam, "GPU instance"),
            "product_instance_type": h.instance_type,
            "product_location": LOCATION[h.region],
            "product_location_type": "AWS Region",
            "product_operation": operation,
            "product_pricing_unit": "Hrs",
            "product_product_family": pfam,
            "product_region_code": h.region,
            "product_servicecode": code,
            "product_usagetype": utype,
            "product_sku": _sku(utype),
            "resource_tags": tags,
        }
        if h.pricing == "on_demand":
            self.emit(consts, n, start, end, 1.0, od, od, team=h.team, workload=h.workload)
        elif h.pricing == "savings_plan":
            sp = {
                "savings_plan_savings_plan_a_r_n": SP_ARN,
                "savings_plan_offering_type": "ComputeSavingsPlans",
                "savings_plan_payment_option": "No Upfront",
                "savings_plan_purchase_term": "1yr",
                "savings_plan_region": None,
                "savings_plan_instance_type_family": None,
            }
            self.emit(
                {
                    **consts,
                    **sp,
                    "line_item_line_item_type": "SavingsPlanCoveredUsage",
                    "line_item_line_item_description": (
                        f"Savings Plans rate of {eff} applied to {h.instance_type}"
                    ),
                },
                n,
                start,
                end,
                1.0,
                od,
                eff,
                team=h.team,
                workload=h.workload,
                extra={
                    "savings_plan_savings_plan_effective_cost": float(eff),
                    "savings_plan_net_savings_plan_effective_cost": float(eff),
                    "savings_plan_savings_plan_rate": float(eff),
                },
            )
            self.emit(
                {
                    **consts,
                    **sp,
                    "line_item_line_item_type": "SavingsPlanNegation",
                    "line_item_line_item_description": f"SavingsPlanNegation used by AccountId : "
                    f"{self.c.team(h.team).aws_account} and UsageSku : {consts['product_sku']}",
                },
                n,
                start,
                end,
                1.0,
                -od,
                Z,
                team=h.team,
                workload=h.workload,
                public=Z,
            )
            self.sp_used += eff * n
            self.sp_gpu = h.gpu_model
        elif h.pricing == "reserved":
            ri = {
                "reservation_reservation_a_r_n": ri_arn(h),
                "pricing_term": "Reserved",
                "pricing_lease_contract_length": "1yr",
                "pricing_offering_class": "standard",
                "pricing_purchase_option": "No Upfront",
                "line_item_line_item_type": "DiscountedUsage",
                "line_item_line_item_description": (
                    f"USD {eff} hourly fee per Linux/UNIX ({h.instance_type})"
                ),
                "line_item_unblended_rate": "0",
                "line_item_net_unblended_rate": "0",
                "line_item_blended_rate": "0",
            }
            self.emit(
                {**consts, **ri},
                n,
                start,
                end,
                1.0,
                Z,
                eff,
                team=h.team,
                workload=h.workload,
                public=od,
                extra={
                    "reservation_effective_cost": float(eff),
                    "reservation_net_effective_cost": float(eff),
                    "reservation_recurring_fee_for_usage": float(eff),
                    "reservation_amortized_upfront_cost_for_usage": 0.0,
                },
            )
            self.ri.append((h, eff, n))

    # --- commitments, daily services, marketplace, tax, credits -------------------------
    def commitments(self) -> None:
        hours = self.b - self.a
        if self.sp_used:
            total = self.sp_commitment * hours
            consts = {
                **self.base("platform"),
                "line_item_line_item_type": "SavingsPlanRecurringFee",
                "line_item_product_code": "ComputeSavingsPlans",
                "line_item_usage_type": "ComputeSP:1yrNoUpfront",
                "line_item_operation": "",
                "line_item_resource_id": SP_ARN,
                "line_item_line_item_description": "1 year No Upfront Compute Savings Plan",
                "savings_plan_savings_plan_a_r_n": SP_ARN,
                "savings_plan_offering_type": "ComputeSavingsPlans",
                "savings_plan_payment_option": "No Upfront",
                "savings_plan_purchase_term": "1yr",
                "product_product_family": None,
                "product_servicecode": "ComputeSavingsPlans",
                "product": [("product_name", "Savings Plans for AWS Compute usage")],
            }
            self.emit(
                consts,
                1,
                self.mstart,
                self.mend,
                float(hours),
                total,
                total - self.sp_used,
                team="platform",
                extra={
                    "savings_plan_total_commitment_to_date": float(total),
                    "savings_plan_used_commitment": float(self.sp_used),
                    "savings_plan_recurring_commitment_for_billing_period": float(total),
                    "savings_plan_amortized_upfront_commitment_for_billing_period": 0.0,
                },
            )
            self.ledger.commitment(
                provider="aws",
                commitment_id=SP_ARN,
                name="1 year No Upfront Compute Savings Plan",
                kind="Savings Plan",
                period=self.m,
                purchase=total,
                used=self.sp_used,
                gpu_model=self.sp_gpu,
            )
        for h, eff, used in self.ri:
            fee = eff * hours
            unused = eff * (hours - used)
            consts = {
                **self.base(h.team),
                "line_item_line_item_type": "RIFee",
                "line_item_product_code": "AmazonEC2",
                "line_item_usage_type": f"HeavyUsage:{h.instance_type}",
                "line_item_operation": "RunInstances",
                "line_item_resource_id": None,
                "line_item_line_item_description": (
                    f"USD {eff} hourly fee per Linux/UNIX ({h.instance_type}), 1 instances"
                ),
                "reservation_reservation_a_r_n": ri_arn(h),
                "pricing_term": "Reserved",
                "product_instance_type": h.instance_type,
                "reservation_number_of_reservations": "1",
                "reservation_total_reserved_units": str(hours),
                "reservation_units_per_reservation": str(hours),
                "product_servicecode": "AmazonEC2",
                "product_product_family": "Compute Instance",
                "product": [("product_name", "Amazon Elastic Compute Cloud")],
            }
            self.emit(
                consts,
                1,
                self.mstart,
                self.mend,
                float(hours),
                fee,
                unused,
                team=h.team,
                extra={
                    "reservation_unused_quantity": float(hours - used),
                    "reservation_unused_recurring_fee": float(unused),
                    "reservation_upfront_value": 0.0,
                },
            )
            self.ledger.commitment(
                provider="aws",
                commitment_id=ri_arn(h),
                name=f"{h.instance_type} Reserved Instance",
                kind="Reserved Instance",
                period=self.m,
                purchase=fee,
                used=eff * used,
                gpu_model=h.gpu_model,
            )
