// The service map (cmdb/service_map.html): draws the nodes and edges of <script id="map-data"> with
// cytoscape.js. Zoom with the wheel or the buttons, pan by dragging the background, click (tap) a node
// to open its page; "Simulate failure" colours what the CI's failure impacts. No inline script: the
// data comes from json_script, the behaviour from here (CSP script-src 'self').
(function () {
  "use strict";

  const container = document.getElementById("service-map");
  if (!container || typeof cytoscape === "undefined") return;
  const source = document.getElementById(container.dataset.source);
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const colours = data.colours;

  // Layers by distance from the root: what the root depends on below it, what its failure impacts
  // above it, so that failures travel upwards. Inside a layer, nodes sit under the average position of
  // their neighbours in the layer nearer the root (fewer crossings); long layers wrap onto several rows.
  function layeredPositions(nodes, edges) {
    const X_GAP = 150, ROW_GAP = 70, LAYER_GAP = 130, PER_ROW = 10;
    const layers = new Map();
    nodes.forEach(function (node) {
      const layer = node.side === "downstream" ? -node.distance : node.distance;
      if (!layers.has(layer)) layers.set(layer, []);
      layers.get(layer).push(node);
    });
    const neighbours = new Map();
    edges.forEach(function (edge) {
      [[edge.source, edge.target], [edge.target, edge.source]].forEach(function (pair) {
        if (!neighbours.has(pair[0])) neighbours.set(pair[0], []);
        neighbours.get(pair[0]).push(pair[1]);
      });
    });
    const x = new Map(), positions = {};
    const order = Array.from(layers.keys()).sort(function (a, b) { return Math.abs(a) - Math.abs(b) || a - b; });
    const rowsOf = function (layer) { return Math.ceil(layers.get(layer).length / PER_ROW); };
    // Vertical offsets: walk outwards from the root on each side.
    const offset = new Map([[0, 0]]);
    [1, -1].forEach(function (sign) {
      let y = 0, previous = 0;
      for (let step = 1; layers.has(sign * step); step++) {
        const layer = sign * step;
        y += sign * (LAYER_GAP + ROW_GAP * (rowsOf(previous) - 1));  // clear the rows of the nearer layer
        offset.set(layer, y);
        previous = layer;
      }
    });
    order.forEach(function (layer) {
      const members = layers.get(layer);
      members.forEach(function (node, index) {
        const placed = (neighbours.get(node.id) || []).filter(function (id) { return x.has(id); });
        node._key = placed.length ? placed.reduce(function (sum, id) { return sum + x.get(id); }, 0) / placed.length
          : index * X_GAP;
      });
      members.sort(function (a, b) { return a._key - b._key || a.name.localeCompare(b.name); });
      const perRow = Math.min(PER_ROW, members.length);
      members.forEach(function (node, index) {
        const row = Math.floor(index / PER_ROW), column = index % PER_ROW;
        const inRow = Math.min(perRow, members.length - row * PER_ROW);
        const px = (column - (inRow - 1) / 2) * X_GAP + (row % 2 ? X_GAP / 2 : 0);
        x.set(node.id, px);
        positions[node.id] = { x: px, y: offset.get(layer) + row * ROW_GAP * (layer < 0 ? -1 : 1) };
      });
    });
    return positions;
  }

  const cy = cytoscape({
    container: container,
    elements: {
      nodes: data.nodes.map(function (node) { return { data: node, classes: node.root ? "root" : "" }; }),
      edges: data.edges.map(function (edge) { return { data: edge, classes: edge.both ? "both" : "" }; }),
    },
    minZoom: 0.15,
    maxZoom: 3,
    boxSelectionEnabled: false,
    autoungrabify: false,
    style: [
      { selector: "node", style: {
        "shape": "round-rectangle", "width": 34, "height": 34, "background-color": "data(colour)",
        "border-width": 1, "border-color": "#6c757d", "label": "data(label)", "text-wrap": "wrap",
        "text-max-width": 150, "text-valign": "bottom", "text-margin-y": 5, "font-size": 10, "color": "#212529",
        "text-background-color": "#ffffff", "text-background-opacity": 0.8, "text-background-padding": 2,
        "min-zoomed-font-size": 7 } },
      { selector: "node[kind = 'service']", style: { "shape": "ellipse", "width": 40, "height": 40 } },
      { selector: "node.root", style: { "border-width": 5, "border-color": colours.root } },
      { selector: "node:active, node.hover", style: { "overlay-opacity": 0.12, "overlay-color": colours.root } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd", "target-arrow-shape": "triangle",
        "curve-style": "bezier", "label": "data(label)", "font-size": 8, "color": "#6c757d",
        "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.9,
        "text-background-padding": 1, "min-zoomed-font-size": 9 } },
      { selector: "edge.both", style: { "source-arrow-shape": "triangle", "source-arrow-color": "#adb5bd" } },
      { selector: "node.impacted", style: { "background-color": colours.impacted, "border-color": "#842029" } },
      { selector: "node.degraded", style: { "border-width": 4, "border-style": "dashed", "border-color": colours.degraded } },
      { selector: "edge.impacted", style: {
        "line-color": colours.impacted, "target-arrow-color": colours.impacted, "width": 2.5 } },
    ],
    layout: { name: "preset", positions: layeredPositions(data.nodes, data.edges), padding: 24 },
  });

  // Fit the map to the window, but do not blow a handful of nodes up to giant size.
  function fit() {
    cy.fit(undefined, 24);
    if (cy.zoom() > 1.25) {
      cy.zoom(1.25);
      cy.center();
    }
  }
  fit();

  // Click through: a tap on a node opens its CI or service page.
  cy.on("tap", "node", function (event) {
    const url = event.target.data("url");
    if (url) window.location.assign(url);
  });
  cy.on("mouseover", "node", function (event) {
    event.target.addClass("hover");
    container.style.cursor = "pointer";
  });
  cy.on("mouseout", "node", function (event) {
    event.target.removeClass("hover");
    container.style.cursor = "";
  });

  function zoomBy(factor) {
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  // "Simulate failure": the analysis is fetched on demand (for a core switch it is the biggest there is),
  // then what the CI's failure impacts turns red, degraded redundant CIs get a dashed frame, and the
  // summary beside the map lists the impacted services. Texts come translated from the server.
  const simulate = document.getElementById("simulate-failure");
  const summary = document.getElementById("failure-summary");
  let failure = null;

  function renderSummary() {
    document.getElementById("failure-counts").textContent = failure.summary;
    const list = document.getElementById("failure-services");
    list.replaceChildren();
    failure.servicesHit.forEach(function (service) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = service.url;
      link.textContent = service.number + " " + service.name;
      const badge = document.createElement("span");
      badge.className = "badge text-bg-light border ms-1";
      badge.textContent = service.tierLabel;
      item.append(link, badge);
      list.append(item);
    });
  }

  function showFailure(on) {
    const impacted = new Set(on ? failure.impacted : []), degraded = new Set(on ? failure.degradedNodes : []);
    cy.batch(function () {
      cy.nodes().forEach(function (node) {
        node.toggleClass("impacted", impacted.has(node.id()));
        node.toggleClass("degraded", degraded.has(node.id()));
      });
      // An edge is on the failure's way when it leads from the root or an impacted node to an impacted one.
      cy.edges().forEach(function (edge) {
        const from = edge.source();
        edge.toggleClass("impacted", impacted.has(edge.target().id())
          && (impacted.has(from.id()) || from.hasClass("root")));
      });
    });
    document.querySelectorAll("#map-nodes [data-node]").forEach(function (item) {
      item.classList.toggle("list-group-item-danger", impacted.has(item.dataset.node));
      item.classList.toggle("list-group-item-warning", degraded.has(item.dataset.node));
    });
    simulate.setAttribute("aria-pressed", on ? "true" : "false");
    summary.hidden = !on;
  }

  function toggleFailure() {
    if (simulate.getAttribute("aria-pressed") === "true") {
      showFailure(false);
      return;
    }
    if (failure) {
      showFailure(true);
      return;
    }
    simulate.disabled = true;
    summary.hidden = false;
    fetch(simulate.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (answer) {
        failure = answer.failure;
        renderSummary();
        showFailure(true);
      })
      .catch(function () {
        document.getElementById("failure-counts").textContent = summary.dataset.error;
      })
      .finally(function () { simulate.disabled = false; });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-map-action]");
    if (!button) return;
    const action = button.dataset.mapAction;
    if (action === "zoom-in") zoomBy(1.25);
    else if (action === "zoom-out") zoomBy(0.8);
    else if (action === "fit") fit();
    else if (action === "simulate") toggleFailure();
  });

  // The depth picker reloads the map as soon as it changes (the Show button stays for keyboards).
  const depth = document.querySelector("select[data-autosubmit]");
  if (depth) depth.addEventListener("change", function () { depth.form.requestSubmit(); });

  // Hovering a node in the list beside the map highlights it on the map.
  document.querySelectorAll("#map-nodes [data-node]").forEach(function (item) {
    const node = cy.getElementById(item.dataset.node);
    item.addEventListener("mouseenter", function () { node.addClass("hover"); });
    item.addEventListener("mouseleave", function () { node.removeClass("hover"); });
  });

  // For the browser tests and the console: the graph, and a flag once it is laid out.
  window.opsdeskServiceMap = cy;
  cy.ready(function () { container.dataset.ready = "true"; });
})();
