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
      const palette = ["#dc3545", "#fd7e14", "#2563eb", "#6c757d", "#198754", "#6f42c1"];
      new Chart(canvas, {
        type: canvas.dataset.chart,
        data: {
          labels: series.labels,
          datasets: [{ data: series.values, label: canvas.getAttribute("aria-label") || "",
                       backgroundColor: canvas.dataset.chart === "bar" ? "#2563eb" : palette }],
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
})();
