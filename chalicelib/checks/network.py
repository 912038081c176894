"""The checklist's network items: subnets across zones, NAT gateways, the database's ports."""

from __future__ import annotations

from typing import Any

from chalicelib.checks.check import Context, Missing, Verdict, check
from chalicelib.domain.profiles import EnvironmentProfile


def _vpc(ctx: Context) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        name = ctx.profile.preflight.vpc
        key = "vpc-id" if name.startswith("vpc-") else "tag:Name"
        found = ec2.describe_vpcs(Filters=[{"Name": key, "Values": [name]}])["Vpcs"]
        if not found:
            raise Missing(f"no VPC {name!r}")
        vpc: dict[str, Any] = found[0]
        return vpc

    return ctx.once("vpc", read)


def _subnets(ctx: Context) -> list[dict[str, Any]]:
    """The VPC's subnets, each marked public when its route table sends 0.0.0.0/0 to an internet gateway."""

    def read() -> list[dict[str, Any]]:
        ec2 = ctx.client("ec2")
        vpc_id = _vpc(ctx)["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
        main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
        by_subnet = {a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
        marked = []
        for subnet in subnets:
            table = by_subnet.get(subnet["SubnetId"], main) or {}
            public = any(
                route.get("DestinationCidrBlock") == "0.0.0.0/0" and str(route.get("GatewayId", "")).startswith("igw-")
                for route in table.get("Routes", [])
            )
            marked.append({"id": subnet["SubnetId"], "az": subnet["AvailabilityZone"], "public": public})
        return marked

    return ctx.once("subnets", read)


def _vpc_name(profile: EnvironmentProfile) -> str:
    return profile.preflight.vpc


@check("network.subnets", "Infrastructure", "Public and private subnets in enough Availability Zones", _vpc_name)
def subnets_across_zones(ctx: Context) -> Verdict:
    subnets = _subnets(ctx)
    public = sorted({s["az"] for s in subnets if s["public"]})
    private = sorted({s["az"] for s in subnets if not s["public"]})
    wanted = ctx.profile.preflight.availability_zones
    ok = len(public) >= wanted and len(private) >= wanted
    return ok, {"public_zones": public, "private_zones": private, "required_zones": wanted}


@check("network.nat_gateways", "Infrastructure", "NAT gateways available for the private subnets", _vpc_name)
def nat_gateways(ctx: Context) -> Verdict:
    vpc_id = _vpc(ctx)["VpcId"]
    gateways = ctx.client("ec2").describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    available = [g["NatGatewayId"] for g in gateways["NatGateways"] if g["State"] == "available"]
    return bool(available), {"available": available}


@check(
    "network.database_ports_closed", "Security", "No security group opens a database port to the internet", _vpc_name
)
def database_ports_closed(ctx: Context) -> Verdict:
    vpc_id = _vpc(ctx)["VpcId"]
    ports = ctx.profile.preflight.database_ports
    groups = ctx.client("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    open_rules = []
    for group in groups["SecurityGroups"]:
        for rule in group.get("IpPermissions", []):
            everyone = [r["CidrIp"] for r in rule.get("IpRanges", []) if r.get("CidrIp") == "0.0.0.0/0"] + [
                r["CidrIpv6"] for r in rule.get("Ipv6Ranges", []) if r.get("CidrIpv6") == "::/0"
            ]
            if not everyone:
                continue
            all_ports = rule.get("IpProtocol") == "-1"
            low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
            exposed = [port for port in ports if all_ports or low <= port <= high]
            if exposed:
                open_rules.append({"group": group["GroupId"], "ports": exposed, "to": everyone})
    return not open_rules, {"open_to_the_internet": open_rules, "ports_checked": ports}
