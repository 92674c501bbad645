"""What a new installation's CMDB starts with: the classes, their attributes and the relationship
types most operations teams use. Loaded by migration 0002 (and kept by later upgrades); admins add
their own through the UI, the API or the configuration file."""

from django.utils.translation import gettext_noop as N_

# slug, name, icon, is_asset, expiry reminder days, attributes (key, label, type, extra)
CLASSES = [
    ("server", N_("Server"), "hdd-rack", True, [60, 14], [
        ("os", N_("Operating system"), "string", {"tracked": True}),
        ("os_version", N_("OS version"), "string", {"tracked": True}),
        ("cpu_count", N_("CPUs"), "integer", {}),
        ("memory_gb", N_("Memory (GB)"), "decimal", {}),
        ("disk_gb", N_("Disk (GB)"), "decimal", {}),
        ("open_ports", N_("Open ports"), "string", {"tracked": True}),
        ("virtualised", N_("Virtualised"), "boolean", {}),
    ]),
    ("virtual-machine", N_("Virtual machine"), "pc-display", False, [], [
        ("os", N_("Operating system"), "string", {"tracked": True}),
        ("os_version", N_("OS version"), "string", {"tracked": True}),
        ("cpu_count", N_("vCPUs"), "integer", {}),
        ("memory_gb", N_("Memory (GB)"), "decimal", {}),
        ("disk_gb", N_("Disk (GB)"), "decimal", {}),
        ("open_ports", N_("Open ports"), "string", {"tracked": True}),
        ("hypervisor", N_("Hypervisor host"), "reference", {}),
    ]),
    ("container", N_("Container"), "box-seam", False, [], [
        ("image", N_("Image"), "string", {"tracked": True}),
        ("replicas", N_("Replicas"), "integer", {}),
        ("namespace", N_("Namespace"), "string", {}),
    ]),
    ("application", N_("Application"), "window-stack", False, [], [
        ("version", N_("Version"), "string", {"tracked": True}),
        ("language", N_("Language or platform"), "string", {}),
        ("repository", N_("Repository"), "string", {}),
    ]),
    ("database", N_("Database"), "database", False, [], [
        ("engine", N_("Engine"), "choice", {"choices": ["postgresql", "mysql", "mariadb", "oracle", "sqlserver",
                                                        "mongodb", "redis", "other"]}),
        ("version", N_("Version"), "string", {"tracked": True}),
        ("size_gb", N_("Size (GB)"), "decimal", {}),
        ("port", N_("Port"), "integer", {}),
    ]),
    ("network-device", N_("Network device"), "router", True, [60, 14], [
        ("device_role", N_("Role"), "choice", {"choices": ["router", "switch", "firewall", "access-point",
                                                           "other"]}),
        ("firmware", N_("Firmware"), "string", {"tracked": True}),
        ("management_ip", N_("Management address"), "ip", {"tracked": True}),
        ("port_count", N_("Ports"), "integer", {}),
    ]),
    ("storage", N_("Storage"), "device-hdd", True, [60, 14], [
        ("capacity_tb", N_("Capacity (TB)"), "decimal", {}),
        ("protocol", N_("Protocol"), "choice", {"choices": ["nfs", "smb", "iscsi", "fc", "s3", "other"]}),
    ]),
    ("load-balancer", N_("Load balancer"), "signpost-split", True, [60, 14], [
        ("vip", N_("Virtual IP"), "ip", {"tracked": True}),
        ("algorithm", N_("Algorithm"), "choice", {"choices": ["round-robin", "least-connections", "ip-hash",
                                                              "other"]}),
    ]),
    ("cluster", N_("Cluster"), "diagram-2", False, [], [
        ("technology", N_("Technology"), "string", {}),
    ]),
    ("cloud-resource", N_("Cloud resource"), "cloud", False, [], [
        ("provider", N_("Provider"), "choice", {"choices": ["aws", "azure", "gcp", "other"]}),
        ("region", N_("Region"), "string", {}),
        ("resource_id", N_("Resource id"), "string", {"tracked": True}),
        ("monthly_cost", N_("Monthly cost"), "decimal", {}),
    ]),
    ("software-licence", N_("Software licence"), "key", True, [90, 30, 7], [
        ("product", N_("Product"), "string", {}),
        ("seats", N_("Seats"), "integer", {}),
        ("licence_key_ref", N_("Licence key reference"), "string", {}),
    ]),
    ("certificate", N_("Certificate"), "shield-lock", False, [30, 14, 3], [
        ("common_name", N_("Common name"), "string", {"tracked": True}),
        ("issuer", N_("Issuer"), "string", {}),
        ("san", N_("Subject alternative names"), "string", {}),
    ]),
]

# slug, name, reverse name, impact direction
RELATIONSHIP_TYPES = [
    ("depends-on", N_("depends on"), N_("is needed by"), "target_to_source"),
    ("runs-on", N_("runs on"), N_("runs"), "target_to_source"),
    ("hosted-on", N_("hosted on"), N_("hosts"), "target_to_source"),
    ("connected-to", N_("connected to"), N_("connected to"), "both"),
    ("backs-up", N_("backs up"), N_("is backed up by"), "none"),
    ("member-of", N_("member of"), N_("has member"), "source_to_target"),
]


def install(apps=None) -> None:
    """Create the shipped classes, attributes and relationship types that are missing (by key); rows
    an admin changed are left as they are. Used by migration 0002 (with the historical models)."""
    if apps is None:
        from django.apps import apps
    CIClass = apps.get_model("cmdb", "CIClass")
    AttributeDefinition = apps.get_model("cmdb", "AttributeDefinition")
    RelationshipType = apps.get_model("cmdb", "RelationshipType")
    for slug, name, icon, is_asset, reminder_days, attributes in CLASSES:
        ci_class, created = CIClass.objects.get_or_create(
            slug=slug, defaults={"name": name, "icon": icon, "is_asset": is_asset,
                                 "expiry_reminder_days": reminder_days, "builtin": True})
        if not created:
            continue
        for order, (key, label, kind, extra) in enumerate(attributes):
            reference_class = CIClass.objects.filter(slug="server").first() if kind == "reference" else None
            AttributeDefinition.objects.create(ci_class=ci_class, key=key, label=label, type=kind, order=order * 10,
                                               choices=extra.get("choices", []), tracked=extra.get("tracked", False),
                                               reference_class=reference_class)
    for slug, name, reverse_name, impact in RELATIONSHIP_TYPES:
        RelationshipType.objects.get_or_create(slug=slug, defaults={"name": name, "reverse_name": reverse_name,
                                                                    "impact": impact, "builtin": True})
