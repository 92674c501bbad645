"""The risk questionnaire a new installation starts with (installed by defaults.install_risk; the
`change_risk_questions` config-as-code section and its page change it afterwards)."""

from django.utils.translation import gettext_noop as N_

QUESTIONS = [
    {"slug": "tested", "order": 10, "text": N_("Was the change tested in a non-production environment?"),
     "help": N_("A rehearsal on Test or Staging with the same steps."),
     "answers": [{"key": "yes", "label": N_("Yes, with the same steps"), "weight": 0},
                 {"key": "partly", "label": N_("Partly"), "weight": 8},
                 {"key": "no", "label": N_("No"), "weight": 15}]},
    {"slug": "backout-tested", "order": 20, "text": N_("Was the backout plan tested?"),
     "help": N_("The backout steps were run at least once and restored the previous state."),
     "answers": [{"key": "yes", "label": N_("Yes"), "weight": 0},
                 {"key": "untested", "label": N_("Written but not tested"), "weight": 8},
                 {"key": "none", "label": N_("No backout is possible"), "weight": 20}]},
    {"slug": "users-affected", "order": 30, "text": N_("How many users notice the change while it runs?"),
     "help": N_("Users who see an interruption, a slowdown or a different behaviour."),
     "answers": [{"key": "none", "label": N_("None"), "weight": 0},
                 {"key": "some", "label": N_("Some (one team or site)"), "weight": 5},
                 {"key": "many", "label": N_("Many (a department)"), "weight": 10},
                 {"key": "all", "label": N_("All users or customers"), "weight": 15}]},
    {"slug": "done-before", "order": 40, "text": N_("Has this team done this kind of change before?"),
     "help": N_("The same kind of change on similar systems, successfully."),
     "answers": [{"key": "often", "label": N_("Often"), "weight": 0},
                 {"key": "once", "label": N_("Once or twice"), "weight": 5},
                 {"key": "never", "label": N_("Never"), "weight": 12}]},
    {"slug": "complexity", "order": 50, "text": N_("How complex is the implementation?"),
     "help": N_("The number of steps, systems and people involved."),
     "answers": [{"key": "simple", "label": N_("Simple (a few steps, one system)"), "weight": 0},
                 {"key": "moderate", "label": N_("Moderate"), "weight": 6},
                 {"key": "complex", "label": N_("Complex (many systems or teams)"), "weight": 12}]},
]
