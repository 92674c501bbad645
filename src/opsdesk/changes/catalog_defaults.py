"""The change catalog a new installation starts with (installed by `defaults.install_catalog`): six
categories, one plan template per category for normal and emergency changes, and a few standard
(pre-approved, low-risk) changes. Plain data: the migration reads it too."""

from __future__ import annotations


def _step(who: str, action: str, minutes: int, verification: str = "") -> dict:
    return {"who": who, "action": action, "minutes": minutes, "verification": verification}


CATEGORIES = [
    {"slug": "database", "name": "Database", "description": "Schema changes, upgrades, parameters and "
                                                             "replication of database servers."},
    {"slug": "network", "name": "Network", "description": "Routing, firewalls, load balancers, DNS and VPNs."},
    {"slug": "application-deployment", "name": "Application deployment",
     "description": "Deploying a new version of an application or a configuration change to it."},
    {"slug": "infrastructure", "name": "Infrastructure",
     "description": "Servers, virtualisation, storage, operating systems and patches."},
    {"slug": "security", "name": "Security", "description": "Certificates, keys, security controls and hardening."},
    {"slug": "access", "name": "Access", "description": "Accounts, groups, roles and access rights."},
]

PLAN_TEMPLATES = [
    {"slug": "plan-database", "name": "Database change plan", "category": "database",
     "description": "The plan of a normal database change: backup first, change, verify, with a restore as "
                    "the backout.",
     "plan_steps": [
         _step("DBA on duty", "Announce the start in the operations channel", 5),
         _step("DBA on duty", "Take a fresh backup of the affected databases and check it completed", 30,
               "Backup job reports success and the file size is plausible"),
         _step("DBA on duty", "Apply the change (migration script, upgrade or parameter change)", 30),
         _step("DBA on duty", "Run the verification queries and check replication lag", 15,
               "Queries return the expected results; replication lag under 5 seconds"),
         _step("Service owner", "Confirm the application works against the changed database", 15),
     ],
     "backout_steps": [
         _step("DBA on duty", "Stop the application's writes (maintenance mode)", 5),
         _step("DBA on duty", "Restore the backup taken before the change or run the down-migration", 45,
               "Row counts match the pre-change figures"),
         _step("Service owner", "Re-enable the application and confirm it works", 15),
     ],
     "test_plan": "Run the migration on the staging copy first and the application's smoke tests after.",
     "communication_plan": "Announce the window to the service's users one day ahead and at start and end.",
     "expected_minutes": 95, "risk_level": "medium"},
    {"slug": "plan-network", "name": "Network change plan", "category": "network",
     "plan_steps": [
         _step("Network engineer", "Save the running configuration of every device touched", 10,
               "Configuration backups stored with today's date"),
         _step("Network engineer", "Apply the configuration change", 20),
         _step("Network engineer", "Check reachability and routing from both sides", 15,
               "Ping and traceroute from the monitoring host succeed"),
     ],
     "backout_steps": [
         _step("Network engineer", "Restore the saved configuration on every device touched", 15,
               "Reachability as before the change"),
     ],
     "test_plan": "Check the change in the lab or on a redundant path first.",
     "communication_plan": "Tell the service desk before the start; a short interruption may occur.",
     "expected_minutes": 45, "risk_level": "medium"},
    {"slug": "plan-application-deployment", "name": "Application deployment plan",
     "category": "application-deployment",
     "plan_steps": [
         _step("Release engineer", "Check the release passed its tests in the test environment", 5),
         _step("Release engineer", "Deploy the new version (pipeline run) to production", 20,
               "The pipeline run succeeded"),
         _step("Release engineer", "Run the smoke tests and watch the error rate for 15 minutes", 20,
               "Smoke tests pass; error rate not above the usual"),
     ],
     "backout_steps": [
         _step("Release engineer", "Redeploy the previous version", 15, "The previous version answers"),
         _step("Release engineer", "Run the smoke tests again", 10),
     ],
     "test_plan": "Automated tests in CI and the acceptance tests in the test environment.",
     "communication_plan": "Release notes to the service desk before the deployment.",
     "expected_minutes": 45, "risk_level": "medium"},
    {"slug": "plan-infrastructure", "name": "Infrastructure change plan", "category": "infrastructure",
     "plan_steps": [
         _step("System engineer", "Take a snapshot of the machines touched", 10, "Snapshots listed"),
         _step("System engineer", "Drain the node from the load balancer or cluster", 10),
         _step("System engineer", "Apply the change (patch, resize, upgrade) and reboot if needed", 30),
         _step("System engineer", "Return the node to service and check its health checks", 10,
               "Health checks green"),
     ],
     "backout_steps": [
         _step("System engineer", "Revert to the snapshot taken before the change", 20),
         _step("System engineer", "Return the node to service", 10, "Health checks green"),
     ],
     "test_plan": "Apply the change to one node first and watch it before the others.",
     "communication_plan": "Tell the service owners of the hosted services before the window.",
     "expected_minutes": 60, "risk_level": "medium"},
    {"slug": "plan-security", "name": "Security change plan", "category": "security",
     "plan_steps": [
         _step("Security engineer", "Record the current settings or keys being replaced", 10),
         _step("Security engineer", "Apply the security change", 20),
         _step("Security engineer", "Verify access still works for the expected users and is refused for "
                                    "others", 15, "Positive and negative access tests pass"),
     ],
     "backout_steps": [
         _step("Security engineer", "Restore the previous settings or keys", 15),
     ],
     "test_plan": "Test the change on a non-production system with the same settings first.",
     "communication_plan": "Tell the service desk which symptoms a user may see.",
     "expected_minutes": 45, "risk_level": "medium"},
    {"slug": "plan-access", "name": "Access change plan", "category": "access",
     "plan_steps": [
         _step("Identity administrator", "Check the approval of the access request", 5),
         _step("Identity administrator", "Grant or remove the access", 10),
         _step("Identity administrator", "Confirm with the person that the access works as requested", 10),
     ],
     "backout_steps": [
         _step("Identity administrator", "Restore the previous group memberships and roles", 10),
     ],
     "test_plan": "The person confirms the access.",
     "communication_plan": "Tell the person and their manager when it is done.",
     "expected_minutes": 25, "risk_level": "low"},
]

STANDARD_TEMPLATES = [
    {"slug": "restart-application-pod", "name": "Restart an application pod", "category": "application-deployment",
     "title": "Restart an application pod",
     "description": "Restart one pod of a replicated application (the others keep serving).",
     "plan_steps": [
         _step("On-call engineer", "Check the other replicas are ready", 2, "kubectl get pods shows them Ready"),
         _step("On-call engineer", "Delete the pod so its deployment recreates it", 2),
         _step("On-call engineer", "Wait for the new pod to be ready", 5, "The new pod is Ready"),
     ],
     "backout_steps": [
         _step("On-call engineer", "Scale the deployment back to its former replica count if pods fail", 5),
     ],
     "test_plan": "The service's health check stays green.", "expected_minutes": 10},
    {"slug": "rotate-tls-certificate", "name": "Rotate a TLS certificate", "category": "security",
     "title": "Rotate a TLS certificate",
     "description": "Replace a TLS certificate before it expires, with one from the usual certificate authority.",
     "plan_steps": [
         _step("System engineer", "Issue the new certificate and check its names and dates", 10),
         _step("System engineer", "Install the certificate and reload the server (no restart)", 5),
         _step("System engineer", "Check the served certificate from outside", 5,
               "openssl s_client shows the new expiry date"),
     ],
     "backout_steps": [
         _step("System engineer", "Put the previous certificate back and reload", 5),
     ],
     "test_plan": "The monitoring's certificate check shows the new expiry.", "expected_minutes": 20},
    {"slug": "add-dns-record", "name": "Add a DNS record", "category": "network", "title": "Add the DNS record",
     "description": "Add a new record to a zone we manage (no change to existing records).",
     "plan_steps": [
         _step("Network engineer", "Add the record to the zone with a short TTL", 5),
         _step("Network engineer", "Query the authoritative servers for it", 5, "dig returns the new record"),
     ],
     "backout_steps": [
         _step("Network engineer", "Remove the record", 5),
     ],
     "test_plan": "The record resolves from outside.", "expected_minutes": 10},
    {"slug": "grant-read-only-access", "name": "Grant read-only access to a system", "category": "access",
     "title": "Grant read-only access",
     "plan_steps": [
         _step("Identity administrator", "Add the person to the system's read-only group", 5),
         _step("Identity administrator", "Ask the person to sign in and confirm", 5),
     ],
     "backout_steps": [
         _step("Identity administrator", "Remove the person from the group", 5),
     ],
     "expected_minutes": 10},
]
