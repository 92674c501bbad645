// Problems: the root-cause analysis row editor (add a row from the <template>, keyboard-friendly), and
// filter selects marked data-autosubmit (the candidates queue) that submit their form when changed.
// Loaded as a file by problems/rca_form.html and candidate_list.html: the CSP forbids inline scripts.
(function () {
  "use strict";
  if (window.opsdeskProblemsRca) { return; }
  window.opsdeskProblemsRca = true;

  function addRow() {
    var template = document.getElementById("rca-row-template");
    var body = document.getElementById("rca-rows");
    var count = document.getElementById("rca-row-count");
    if (!template || !body || !count) { return; }
    var index = parseInt(count.value, 10) || 0;
    var html = template.innerHTML.replace(/__i__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    count.value = String(index + 1);
    var row = body.lastElementChild;
    var first = row && row.querySelector("input:not([type=checkbox]), select, textarea");
    if (first) { first.focus(); }
  }

  function init() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) { select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit(); }
      });
    });
    var button = document.getElementById("rca-add-row");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", addRow);
    }
    var rows = document.getElementById("rca-rows");
    if (rows) {
      // Ctrl+Enter in the last row adds a row: typing a chain of whys without the mouse.
      rows.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          addRow();
        }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
