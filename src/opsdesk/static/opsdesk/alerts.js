// The alerts pages: "Add a row" in the label-matcher editor, and confirmation of dangerous buttons
// (rotate key, delete route). No inline scripts: the CSP forbids them.
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

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
