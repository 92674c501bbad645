"""The approval policies a new installation starts with (installed by defaults.install_approvals; config-as-code
section `change_approval_policies` changes them). Plain data, so the migration can use it."""

POLICIES = [
    # Standard changes come from the approved catalog: no stage, so they are pre-approved.
    {"slug": "standard", "name": "Standard (pre-approved)", "change_types": ["standard"], "risk_levels": [],
     "order": 10, "active": True, "stages": []},
    {"slug": "low-medium", "name": "Normal, low or medium risk", "change_types": ["normal"],
     "risk_levels": ["low", "medium"], "order": 20, "active": True, "stages": [
         {"order": 1, "name": "Team lead", "min_role": "manager", "quorum": "any", "required": 1, "cab": False}]},
    {"slug": "high", "name": "Normal, high or very high risk", "change_types": ["normal"],
     "risk_levels": ["high", "very_high"], "order": 30, "active": True, "stages": [
         {"order": 1, "name": "Team lead", "min_role": "manager", "quorum": "any", "required": 1, "cab": False},
         {"order": 2, "name": "CAB", "min_role": "manager", "quorum": "n_of_m", "required": 2, "cab": True}]},
    {"slug": "emergency", "name": "Emergency (ECAB)", "change_types": ["emergency"], "risk_levels": [],
     "order": 40, "active": True, "stages": [
         {"order": 1, "name": "ECAB", "min_role": "manager", "quorum": "any", "required": 1, "cab": True}]},
]
