// The alerts pages: "Add a row" in the label-matcher editor, the mailbox fields of the integration form,
// and confirmation of dangerous buttons (rotate key, delete route; on-call: remove a layer or override, delete a
// policy: those pages load this file too), and the fields of an escalation step by its kind.
// No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-add-matcher]");
    if (!button) return;
    const rows = button.parentElement.querySelectorAll(".matcher-row");
    const last = rows[rows.length - 1];
    if (!last) return;
    const copy = last.cloneNode(true);
    copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    copy.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
    last.after(copy);
    const first = copy.querySelector("input");
    if (first) first.focus();
  });

  // The integration form: the mailbox settings only for the email kind.
  function showMailbox() {
    const kind = document.querySelector("form.record-form select[name=kind]");
    if (!kind) return;
    document.querySelectorAll("form.record-form [class*='field-imap_']").forEach(function (field) {
      const hasError = field.classList.contains("has-error");
      field.hidden = kind.value !== "email" && !hasError;
    });
  }
  // An escalation step form: only the fields of the chosen kind of step.
  const STEP_FIELDS = {
    notify_users: ["users", "urgency"], notify_schedule: ["schedule", "urgency"],
    notify_team: ["team", "team_role", "urgency"], wait: ["wait_minutes"],
  };
  function showStepFields(kind) {
    const box = kind.closest("fieldset") || kind.closest("form");
    const wanted = STEP_FIELDS[kind.value];
    if (!box || !wanted) return;
    Object.keys(STEP_FIELDS).forEach(function (key) {
      STEP_FIELDS[key].forEach(function (name) {
        box.querySelectorAll(".field-" + name).forEach(function (field) {
          field.hidden = wanted.indexOf(name) < 0 && !field.querySelector(".invalid-feedback");
        });
      });
    });
  }
  function stepKinds() {
    return Array.prototype.filter.call(document.querySelectorAll("select[name$=kind]"), function (select) {
      return !!select.querySelector("option[value=notify_schedule]");
    });
  }

  function setUp() {
    showMailbox();
    stepKinds().forEach(showStepFields);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("form.record-form select[name=kind]")) showMailbox();
    if (event.target.matches("select[name$=kind]") && event.target.querySelector("option[value=notify_schedule]")) {
      showStepFields(event.target);
    }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
