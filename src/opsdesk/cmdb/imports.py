"""The reconciliation engine of discovery and imports: rows in, CIs created, updated or left alone,
and a report line per row. The runs around it (stored files, options, the job) are in `import_runs.py`.

The engine plans every row against the database first, read-only, so a dry run is exactly the plan;
a real run then applies it: updates one by one through `services.update_ci`, creates in batches
through `core.records.bulk_create_records`, the discovery bookkeeping in bulk.

Rules (the user guide, docs/user-guide/cmdb-imports.md, explains them):
- Match keys are tried in order; the first key the row has a value for AND that finds a CI decides.
  Disposed CIs are never matched.
- An empty cell is "not given" and never clears a field. Addresses, host names, tags and services
  are added to, never removed (a scan sees a host through one address).
- nmap and Ansible name a CI and choose its class only when they create it; they never rename or
  reclassify a CI people have recorded, and attributes the class does not define are left out.
- Bookkeeping (last_seen_at, discovered, discovery_source when empty, missing_from_discovery) is not
  an update: it is written without a change-log row and not counted, so the second run of a file
  reports 0 creates and 0 updates.
- Two rows of one file that would create the same CI, or that match the same CI, are errors.
- CIs not seen are marked or retired only after an import without errors that had rows: a row that
  failed might have been one of them.
"""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from opsdesk.accounts.models import Team
from opsdesk.core import audit, records, versions
from opsdesk.core.workflow import TransitionNotAllowed
from opsdesk.services.models import Service

from . import import_parsers as parsers
from . import services
from .attributes import clean_attributes, convert, definitions_for
from .models import CIClass, ConfigurationItem, DiscoveredHost
from .workflows import CI_WORKFLOW

BATCH = 500
FIELD_TARGETS = ["name", "ci_class", "environment", "owner_team", "location", "ip_addresses", "hostnames",
                 "description", "tags", "services", "serial_number", "asset_tag", "vendor", "model_name",
                 "purchase_date", "purchase_cost", "warranty_end", "expires_on"]
DISCOVERY_KINDS = {"nmap", "ansible"}
CREATE_ONLY = {"name", "ci_class"}  # for DISCOVERY_KINDS
# match key -> the mapping target that provides its values
MATCH_FIELDS = {"name": "name", "serial_number": "serial_number", "asset_tag": "asset_tag",
                "hostname": "hostnames", "ip": "ip_addresses"}
DATES = {"purchase_date", "warranty_end", "expires_on"}


def describe(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(" ".join(messages) if field == "__all__" else f"{field}: {' '.join(messages)}"
                         for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


def _spelling(address: str) -> str:
    try:
        return parsers.as_ip_list([address])[0]
    except (ValueError, IndexError):
        return address


def validate(ci: ConfigurationItem) -> None:
    """full_clean without a query per row: the number is the CI's own and the class and team are
    records this import loaded (the database constraints still hold)."""
    ci.full_clean(exclude=["number", "ci_class", "owner_team", "disposal_approved_by"])


def chunks(items: list, size: int | None = None):
    size = size or BATCH
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Plan:
    """What the engine will do (or did) with one row."""

    def __init__(self, number: int):
        self.number = number
        self.action, self.message = "", ""
        self.fields: dict = {}
        self.attributes: dict = {}
        self.ci_class: CIClass | None = None  # given by the row
        self.keys: dict[str, list] = {}
        self.ids: set | None = None
        self.matched_by = ""
        self.ci: ConfigurationItem | None = None
        self.data: dict = {}  # update_ci data
        self.create_fields: dict = {}
        self.changes: dict = {}
        self.discovered: dict = {}
        self.host_key = ""

    def fail(self, message: str) -> None:
        self.action, self.message, self.changes = "error", message, {}

    @property
    def open(self) -> bool:
        return not self.action

    def line(self) -> dict:
        return {"row": self.number, "action": self.action, "ci": self.ci.number if self.ci is not None else None,
                "message": self.message, "changes": self.changes}


class Reconciler:
    def __init__(self, run, actor):
        self.run, self.actor, self.now = run, actor, timezone.now()
        self.discovery = run.kind in DISCOVERY_KINDS
        self.mapping = {column: target for column, target in (run.mapping or {}).items() if target}
        self.class_by_id = {c.pk: c for c in CIClass.objects.all()}
        self.class_by_key = {}
        for ci_class in self.class_by_id.values():
            self.class_by_key[ci_class.name.lower()] = ci_class
            self.class_by_key[ci_class.slug] = ci_class
        self.default_class = self.class_by_id.get(run.default_class_id)
        self._teams: dict | None = None
        self._environments: dict | None = None
        self._services: dict[str, Service | None] = {}
        self.plans: list[Plan] = []
        self.pending: dict[tuple, int] = {}  # (key, value) of rows planned as creates -> row
        self.claimed: dict[int, int] = {}  # CI id -> the row that matched it
        self.seen_ids: set[int] = set()
        self.touched_classes: set[int] = {run.default_class_id} if run.default_class_id else set()
        self.unseen_lines: list[dict] = []
        self.report: list[dict] = []

    # --- the whole run ---------------------------------------------------------------------------------
    def reconcile(self, rows) -> None:
        self.plans = [self.prepare(row) for row in rows]
        self.match()
        for plan in self.plans:
            if plan.open:
                self.decide(plan)
        if not self.run.dry_run:
            self.apply()
        self.handle_unseen()
        self.report = [plan.line() for plan in self.plans] + self.unseen_lines

    def counts(self) -> dict:
        actions = [plan.action for plan in self.plans]
        return {"rows_total": len(actions), "created_count": actions.count("create"),
                "updated_count": actions.count("update"), "unchanged_count": actions.count("unchanged"),
                "skipped_count": actions.count("skip"), "error_count": actions.count("error"),
                "unseen_count": sum(1 for line in self.unseen_lines if line["action"] == "unseen")}

    # --- rows -> field values ----------------------------------------------------------------------------
    def prepare(self, row) -> Plan:
        plan = Plan(row.number)
        if row.error:
            plan.fail(row.error)
            return plan
        errors = []
        for column, target in self.mapping.items():
            value = row.values.get(column)
            if parsers.is_blank(value):
                continue
            if target.startswith("attr."):
                plan.attributes[target[5:]] = value
                continue
            try:
                plan.fields[target] = self.convert(target, value)
            except ValueError as exc:
                errors.append(f"{target}: {exc}")
        if errors:
            plan.fail("; ".join(errors))
            return plan
        plan.ci_class = plan.fields.pop("ci_class", None)
        plan.keys = self.key_values(plan)
        return plan

    def convert(self, target: str, value):
        if target == "ci_class":
            found = self.class_by_key.get(parsers.as_text(value).lower())
            if found is None:
                raise ValueError(_("No class “%(value)s”.") % {"value": value})
            return found
        if target == "environment":
            text = parsers.as_text(value).lower()
            if self._environments is None:  # lazy labels translated once per import, not per row
                self._environments = {**{str(label).lower(): key for key, label in ConfigurationItem.ENVIRONMENTS},
                                      **{key: key for key, _label in ConfigurationItem.ENVIRONMENTS}}
            if text in self._environments:
                return self._environments[text]
            raise ValueError(_("“%(value)s” is not one of: %(choices)s.")
                             % {"value": value, "choices": ", ".join(k for k, _l in ConfigurationItem.ENVIRONMENTS)})
        if target == "owner_team":
            if self._teams is None:
                self._teams = {}
                for team in Team.objects.all():
                    self._teams[team.slug.lower()] = self._teams[team.name.lower()] = team
            team = self._teams.get(parsers.as_text(value).lower())
            if team is None:
                raise ValueError(_("No team “%(value)s”.") % {"value": value})
            return team
        if target == "services":
            found = []
            for slug in parsers.as_list(value):
                if slug not in self._services:
                    self._services[slug] = Service.objects.filter(slug=slug).first()
                if self._services[slug] is None:
                    raise ValueError(_("No service “%(value)s”.") % {"value": slug})
                found.append(self._services[slug])
            return found
        if target == "ip_addresses":
            return parsers.as_ip_list(value)
        if target == "hostnames":
            return parsers.as_hostname_list(value)
        if target == "tags":
            return [t.lower() for t in parsers.as_list(value)]
        if target in DATES:
            return parsers.as_date(value)
        if target == "purchase_cost":
            return parsers.as_decimal(value)
        return parsers.as_text(value)

    def key_values(self, plan: Plan) -> dict[str, list]:
        found = {}
        for key in self.run.match_keys:
            if key in ("hostname", "ip"):
                values = list(plan.fields.get(MATCH_FIELDS[key]) or [])
            elif key == "name":
                values = [plan.fields["name"].lower()] if plan.fields.get("name") else []
            elif key.startswith("attr."):
                raw = plan.attributes.get(key[5:])
                definition = definitions_for(plan.ci_class or self.default_class).get(key[5:])
                try:
                    values = [] if raw is None else [convert(definition, raw) if definition else parsers.as_text(raw)]
                except ValidationError:
                    values = []  # the attribute check of the row reports it
            else:
                values = [plan.fields[key]] if plan.fields.get(key) else []
            found[key] = [v for v in values if v is not None]
        return found

    def attributes_for(self, ci_class: CIClass, given: dict) -> dict:
        if not self.discovery:
            return dict(given)
        defined = definitions_for(ci_class)
        return {key: value for key, value in given.items() if key in defined}

    def discovered(self, plan: Plan, attributes: dict | None) -> dict:
        """What the row reported, in the change log's form (audit.snapshot), for the drift audit."""
        values = {k: audit.to_json_value(v) for k, v in plan.fields.items()
                  if not (self.discovery and k in CREATE_ONLY)}
        if plan.ci_class is not None and not self.discovery:
            values["ci_class"] = str(plan.ci_class)
        if attributes:
            values["attributes"] = attributes
        return values

    # --- matching --------------------------------------------------------------------------------------
    def match(self) -> None:
        keys = list(self.run.match_keys)
        wanted = {key: {v for plan in self.plans if plan.open for v in plan.keys.get(key, [])} for key in keys}
        index: dict[str, dict] = {key: {} for key in keys}
        candidates = ConfigurationItem.objects.exclude(status="disposed")
        if wanted.get("hostname") or wanted.get("ip"):
            tokens: dict[str, set] = {}
            rows = candidates.exclude(identifiers="").values_list("pk", "identifiers")
            for pk, identifiers in rows.iterator(chunk_size=5000):
                for token in identifiers.split():
                    tokens.setdefault(token, set()).add(pk)
            for key in ("hostname", "ip"):
                if key in index:
                    index[key] = {v: tokens[v] for v in wanted[key] if v in tokens}
        for key in keys:
            if key in ("hostname", "ip") or not wanted[key]:
                continue
            for part in chunks(sorted(wanted[key], key=str), 1000):
                if key == "name":
                    rows = candidates.annotate(lname=Lower("name")).filter(lname__in=part).values_list("lname", "pk")
                elif key.startswith("attr."):
                    path = f"attributes__{key[5:]}"
                    rows = candidates.filter(**{f"{path}__in": part}).values_list(path, "pk")
                else:
                    rows = candidates.filter(**{f"{key}__in": part}).values_list(key, "pk")
                for value, pk in rows:
                    index[key].setdefault(value, set()).add(pk)
        for plan in self.plans:
            if not plan.open:
                continue
            given = [key for key in keys if plan.keys.get(key)]
            if not given:
                plan.fail(_("The row has no value for any match key (%(keys)s).") % {"keys": ", ".join(keys)})
                continue
            plan.ids = set()
            for key in given:
                found = set().union(*(index[key].get(v, ()) for v in plan.keys[key]))
                if found:
                    plan.ids, plan.matched_by = found, key
                    break
        single = {next(iter(p.ids)) for p in self.plans if p.ids and len(p.ids) == 1}
        several = {pk for p in self.plans if p.ids and len(p.ids) > 1 for pk in p.ids}
        self.cis: dict[int, ConfigurationItem] = {}
        related = [name for name in ("tags", "services") if name in self.mapping.values()]
        for part in chunks(sorted(single), 2000):
            query = ConfigurationItem.objects.filter(pk__in=part).select_related("owner_team")
            self.cis.update({ci.pk: ci for ci in query.prefetch_related(*related)})
        self.numbers = dict(ConfigurationItem.objects.filter(pk__in=several).values_list("pk", "number")) \
            if several else {}

    # --- decisions -------------------------------------------------------------------------------------
    def decide(self, plan: Plan) -> None:
        run = self.run
        if not plan.ids:
            if run.on_no_match == "error":
                plan.fail(_("No CI matches this row."))
            elif run.on_no_match == "skip":
                key = next(k for k in run.match_keys if plan.keys.get(k))
                plan.host_key = str(plan.keys[key][0]).lower()[:255]
                plan.action = "skip"
                plan.message = _("No CI matches; recorded as a discovered host (%(key)s).") % {"key": plan.host_key}
                plan.discovered = self.discovered(plan, None)
            else:
                self.plan_create(plan)
            return
        if len(plan.ids) > 1:
            self.seen_ids |= plan.ids
            numbers = sorted(self.numbers.get(pk, str(pk)) for pk in plan.ids)
            plan.action = "error" if run.on_many_matches == "error" else "skip"
            plan.message = _("Matches %(n)s CIs by %(key)s: %(numbers)s.") % {
                "n": len(numbers), "key": plan.matched_by, "numbers": ", ".join(numbers[:10])}
            return
        ci = self.cis[next(iter(plan.ids))]
        self.seen_ids.add(ci.pk)
        self.touched_classes.add(ci.ci_class_id)
        if ci.pk in self.claimed:
            plan.fail(_("%(ci)s was already matched by row %(row)s.") % {"ci": ci.number, "row": self.claimed[ci.pk]})
            return
        self.claimed[ci.pk] = plan.number
        plan.ci = ci
        if run.on_one_match == "skip":
            attributes = self.attributes_for(self.class_by_id[ci.ci_class_id], plan.attributes)
            try:
                attributes = clean_attributes(self.class_by_id[ci.ci_class_id], {**ci.attributes, **attributes})
                attributes = {k: attributes[k] for k in plan.attributes if k in attributes}
            except ValidationError:
                pass  # reported as given; nothing is written to the CI
            plan.action, plan.discovered = "skip", self.discovered(plan, attributes)
            plan.message = _("Matches %(ci)s by %(key)s; left as it is.") % {"ci": ci.number, "key": plan.matched_by}
            return
        self.plan_update(plan)

    def plan_create(self, plan: Plan) -> None:
        ci_class = plan.ci_class or self.default_class
        if ci_class is None:
            plan.fail(_("No class for a new CI: map a class column or choose a class for new CIs."))
            return
        if not plan.fields.get("name"):
            plan.fail(_("A new CI needs a name."))
            return
        pairs = [(key, value) for key, values in plan.keys.items() for value in values]
        earlier = next((self.pending[pair] for pair in pairs if pair in self.pending), None)
        if earlier is not None:
            plan.fail(_("Row %(row)s already creates a CI with the same match key.") % {"row": earlier})
            return
        try:
            attributes = clean_attributes(ci_class, self.attributes_for(ci_class, plan.attributes))
        except ValidationError as exc:
            plan.fail(describe(exc))
            return
        plan.discovered = self.discovered(plan, attributes)
        fields = {**plan.fields, "ci_class": ci_class, "attributes": attributes, "discovery_source": self.run.source,
                  "last_seen_at": self.now, "discovered": plan.discovered}
        if self.run.dry_run:  # a real run validates in bulk_create_records
            try:
                validate(ConfigurationItem(**{k: v for k, v in fields.items() if k not in ("tags", "services")}))
            except ValidationError as exc:
                plan.fail(describe(exc))
                return
        for pair in pairs:
            self.pending[pair] = plan.number
        self.touched_classes.add(ci_class.pk)
        plan.action, plan.create_fields = "create", fields
        known = plan.discovered
        plan.changes = {k: [None, known[k] if k in known else audit.to_json_value(v)] for k, v in plan.fields.items()}
        plan.changes["ci_class"] = [None, str(ci_class)]
        plan.changes.update({f"attributes.{k}": [None, v] for k, v in attributes.items()})

    def plan_update(self, plan: Plan) -> None:
        ci = plan.ci
        data, changes = {}, {}
        for field, value in plan.fields.items():
            if self.discovery and field in CREATE_ONLY:
                continue
            if field == "tags":
                current = sorted(tag.name for tag in ci.tags.all())
                added = [name for name in value if name not in current]
                if added:
                    data["tags"] = current + added
                    changes["tags"] = [current, sorted(data["tags"])]
            elif field == "services":
                current = list(ci.services.all())
                added = [service for service in value if service.pk not in {s.pk for s in current}]
                if added:
                    data["services"] = current + added
                    changes["services"] = [sorted(str(s) for s in current), sorted(str(s) for s in data["services"])]
            elif field in ("ip_addresses", "hostnames"):
                current = list(getattr(ci, field) or [])
                normal = {v.lower() for v in current} | set(parsers.as_hostname_list(current))
                if field == "ip_addresses":
                    normal |= {_spelling(v) for v in current}
                added = [v for v in value if v not in normal]
                if added:
                    data[field] = current + added
                    changes[field] = [current, data[field]]
            else:
                current = ci.owner_team if field == "owner_team" else getattr(ci, field)
                if current != value:
                    data[field] = value
                    changes[field] = [audit.to_json_value(current), audit.to_json_value(value)]
        ci_class = self.class_by_id[ci.ci_class_id]
        if plan.ci_class is not None and not self.discovery and plan.ci_class.pk != ci.ci_class_id:
            data["ci_class"] = ci_class = plan.ci_class
            changes["ci_class"] = [str(self.class_by_id[ci.ci_class_id]), str(ci_class)]
        given = self.attributes_for(ci_class, plan.attributes)
        merged = ci.attributes
        if given or "ci_class" in data:
            try:
                merged = clean_attributes(ci_class, {**ci.attributes, **given})
            except ValidationError as exc:
                plan.fail(describe(exc))
                return
            given = {k: merged[k] for k in given if k in merged}
            altered = {k: v for k, v in given.items() if ci.attributes.get(k) != v}
            if altered:
                data["attributes"] = altered
                changes.update({f"attributes.{k}": [ci.attributes.get(k), v] for k, v in altered.items()})
        plan.discovered = self.discovered(plan, given)
        if not data:
            plan.action = "unchanged"
            plan.message = _("Matches %(ci)s by %(key)s; nothing differs.") % {"ci": ci.number, "key": plan.matched_by}
            return
        check = copy.copy(ci)
        for field, value in data.items():
            if field not in ("tags", "services"):
                setattr(check, field, value)
        check.attributes = merged
        try:
            validate(check)
        except ValidationError as exc:
            plan.fail(describe(exc))
            return
        plan.action, plan.data, plan.changes = "update", data, changes
        plan.message = _("Matches %(ci)s by %(key)s.") % {"ci": ci.number, "key": plan.matched_by}

    # --- writes ----------------------------------------------------------------------------------------
    def apply(self) -> None:
        for plan in self.plans:
            if plan.action == "update":
                try:
                    plan.ci = services.update_ci(plan.ci, actor=self.actor, data=plan.data)
                except (ValidationError, TransitionNotAllowed) as exc:
                    ci = plan.ci
                    plan.fail(describe(exc) if isinstance(exc, ValidationError) else str(exc))
                    plan.ci = ci
        self.create_all()
        self.bookkeeping()
        self.record_discovered_hosts()

    def create_all(self) -> None:
        creates = [plan for plan in self.plans if plan.action == "create"]
        for batch in chunks(creates):
            try:
                with transaction.atomic():
                    result = records.bulk_create_records(
                        ConfigurationItem, [plan.create_fields for plan in batch], actor=self.actor,
                        workflow=CI_WORKFLOW, audited=services.CI_AUDITED, summary_obj=self.run, skip_invalid=True)
                    if any(plan.create_fields.get("services") for plan in batch):  # edges of the impact graph
                        versions.bump(versions.IMPACT_GRAPH)
            except DatabaseError as exc:
                for plan in batch:
                    plan.fail(_("Not stored: %(error)s") % {"error": exc})
                continue
            stored = [plan for index, plan in enumerate(batch) if index not in result.errors]
            for index, exc in result.errors.items():
                batch[index].fail(describe(exc))
            for plan, ci in zip(stored, result.records, strict=True):
                plan.ci = ci
                self.seen_ids.add(ci.pk)
                if ci.warranty_end or ci.expires_on:
                    services._schedule_expiry_reminders(ci)  # what create_ci does after each create

    def bookkeeping(self) -> None:
        """Seen again: not an update, no change-log row (see the module docstring). A CI whose record of
        what discovery saw is unchanged only gets its last_seen_at, in one statement per batch."""
        seen = [plan for plan in self.plans if plan.ci is not None and plan.action in ("update", "unchanged", "skip")]
        only_time = []
        for plan in seen:
            ci = plan.ci
            if ci.discovered == plan.discovered and not ci.missing_from_discovery and ci.discovery_source:
                only_time.append(ci.pk)
                continue
            ConfigurationItem.objects.filter(pk=ci.pk).update(
                last_seen_at=self.now, discovered=plan.discovered, missing_from_discovery=False,
                discovery_source=ci.discovery_source or self.run.source)
        for part in chunks(only_time):
            ConfigurationItem.objects.filter(pk__in=part).update(last_seen_at=self.now)

    def record_discovered_hosts(self) -> None:
        source = self.run.source
        skipped = {plan.host_key: plan for plan in self.plans if plan.action == "skip" and plan.host_key}
        existing = {}
        for part in chunks(list(skipped)):
            existing.update({h.key: h for h in DiscoveredHost.objects.filter(source=source, key__in=part)})
        for key, host in existing.items():
            host.data, host.last_seen_at, host.import_run = skipped[key].discovered, self.now, self.run
        DiscoveredHost.objects.bulk_update(list(existing.values()), ["data", "last_seen_at", "import_run"],
                                           batch_size=BATCH)
        DiscoveredHost.objects.bulk_create([
            DiscoveredHost(source=source, key=key, data=plan.discovered, first_seen_at=self.now, last_seen_at=self.now,
                           import_run=self.run) for key, plan in skipped.items() if key not in existing],
            batch_size=BATCH)
        claimed = sorted({str(v).lower()[:255] for plan in self.plans if plan.ci is not None
                          for values in plan.keys.values() for v in values})
        for part in chunks(claimed):
            DiscoveredHost.objects.filter(source=source, key__in=part).delete()

    def handle_unseen(self) -> None:
        run = self.run
        if run.on_unseen == "ignore":
            return
        errors = sum(1 for plan in self.plans if plan.action == "error")
        if errors or not self.plans:
            reason = _("the import has errors (a row that failed might be one of them)") if errors \
                else _("the file has no rows")
            self.unseen_lines.append({"row": None, "action": "skip", "ci": None, "changes": {},
                                      "message": _("CIs not seen were left alone because %(reason)s.")
                                      % {"reason": reason}})
            return
        candidates = ConfigurationItem.objects.filter(
            discovery_source=run.source, ci_class_id__in=self.touched_classes).exclude(
            status__in=("retired", "disposed")).order_by("number").values_list("pk", "number", "missing_from_discovery")
        unseen = [(pk, number, marked) for pk, number, marked in candidates if pk not in self.seen_ids]
        reason = _("Not seen by %(run)s (source %(source)s).") % {"run": run.number, "source": run.source}
        if run.on_unseen == "mark":
            for _pk, number, marked in unseen:
                message = _("Not seen; already marked as missing.") if marked else (
                    _("Not seen; would be marked as missing.") if run.dry_run else _("Not seen; marked as missing."))
                self.unseen_lines.append({"row": None, "action": "unseen", "ci": number, "message": message,
                                          "changes": {} if marked else {"missing_from_discovery": [False, True]}})
            if not run.dry_run:
                for part in chunks([pk for pk, _number, marked in unseen if not marked]):
                    ConfigurationItem.objects.filter(pk__in=part).update(missing_from_discovery=True)
            return
        for pk, number, _marked in unseen:
            line = {"row": None, "action": "unseen", "ci": number, "changes": {},
                    "message": _("Not seen; would be retired.") if run.dry_run else _("Not seen; retired.")}
            if not run.dry_run:
                try:
                    ci = ConfigurationItem.objects.get(pk=pk)
                    before = ci.status
                    services.transition_ci(ci, "retire", actor=self.actor, data={"reason": reason})
                    line["changes"] = {"status": [before, "retired"]}
                except (ValidationError, TransitionNotAllowed) as exc:
                    line["message"] = _("Not seen; could not be retired: %(error)s") % {
                        "error": describe(exc) if isinstance(exc, ValidationError) else str(exc)}
            self.unseen_lines.append(line)
