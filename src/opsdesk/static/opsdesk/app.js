// Opsdesk UI behaviour. No inline scripts anywhere (the CSP forbids them): pages pass data with
// json_script and data- attributes.
(function () {
  "use strict";

  // Keyboard: "/" focuses the global search, "n" opens New, "e" opens Edit, Ctrl+Enter submits forms.
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const typing = target.matches("input, textarea, select, [contenteditable]");
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      const box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); }
      return;
    }
    const link = document.querySelector('[data-shortcut="' + event.key + '"]');
    if (link) { event.preventDefault(); link.click(); }
  });

  // Copy buttons (the new API token).
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.querySelector(button.dataset.copy);
    if (field) { field.select(); navigator.clipboard && navigator.clipboard.writeText(field.value); }
  });

  // Charts: <canvas data-chart="bar" data-source="json-script-id" data-key="series">.
  function drawCharts(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      const source = document.getElementById(canvas.dataset.source);
      if (!source) return;
      const series = JSON.parse(source.textContent)[canvas.dataset.key];
      if (!series.values.some(function (v) { return v > 0; })) {
        // An empty doughnut draws nothing at all: say so instead of leaving a blank card.
        const empty = document.createElement("p");
        empty.className = "chart-empty text-body-secondary small text-center my-5";
        empty.textContent = canvas.dataset.emptyText || "No data yet.";
        canvas.replaceWith(empty);
        return;
      }
      // Same order and colours as the tier badges (danger, warning, primary, secondary).
      const palette = ["#dc3545", "#ffc107", "#0d6efd", "#6c757d", "#198754", "#6f42c1"];
      new Chart(canvas, {
        type: canvas.dataset.chart,
        data: {
          labels: series.labels,
          datasets: [{ data: series.values, label: canvas.getAttribute("aria-label") || "",
                       backgroundColor: canvas.dataset.chart === "bar" ? "#0d6efd" : palette }],
        },
        options: { responsive: true, maintainAspectRatio: false,
                   plugins: { legend: { display: canvas.dataset.chart !== "bar", position: "bottom" } },
                   scales: canvas.dataset.chart === "bar" ? { y: { beginAtZero: true, ticks: { precision: 0 } } } : {} },
      });
      canvas.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.body.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });

  // A refused or failed htmx request (403, 404, 409, 500, network) is said out loud instead of doing
  // nothing; 422 answers are swapped in place (see htmx-config in base.html) to show the field errors.
  // Texts come from data-msg-* attributes of #messages, so they are translated with the page.
  function showError(kind, status) {
    const area = document.getElementById("messages");
    if (!area) return;
    const alert = document.createElement("div");
    alert.className = "alert alert-danger alert-dismissible fade show py-2";
    alert.setAttribute("role", "alert");
    alert.textContent = area.dataset[kind] + (status ? " (" + status + ")" : "");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close py-2";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", area.dataset.msgClose);
    alert.appendChild(close);
    area.replaceChildren(alert);
  }
  document.body.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    showError(status === 403 ? "msgForbidden" : status === 404 ? "msgGone" : "msgFailed", status);
  });
  document.body.addEventListener("htmx:sendError", function () { showError("msgOffline"); });

  // Keep tab links in sync after an htmx tab switch.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id !== "record-tab") return;
    const tab = new URLSearchParams(window.location.search).get("tab") || "details";
    document.querySelectorAll("[data-tab]").forEach(function (link) {
      const active = link.dataset.tab === tab;
      link.classList.toggle("active", active);
      link.setAttribute("aria-selected", active ? "true" : "false");
    });
  });

  // A select with data-reload-param (the class of a new CI) reloads the form with that choice, so the
  // form shows the fields that go with it. Only on forms for new records: an edit keeps what was typed.
  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-reload-param]");
    if (!select || !/\/new\/$/.test(window.location.pathname)) return;
    const url = new URL(window.location.href);
    url.searchParams.set(select.dataset.reloadParam, select.value);
    window.location.assign(url.toString());
  });
})();
