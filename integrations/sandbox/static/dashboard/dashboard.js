// Operations dashboard: hand-written SVG bar charts and a self-refreshing "Running now" panel. No dependencies.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function barChart(container, labels, series, title) {
    var width = 720, height = 140, left = 28, bottom = 18, top = 16;
    var totals = labels.map(function (_, i) { return series.reduce(function (s, ser) { return s + ser.values[i]; }, 0); });
    var max = Math.max(1, Math.max.apply(null, totals));
    var slot = (width - left) / labels.length;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": title });
    svg.appendChild(el("text", { x: left, y: 11 }, title + " (max " + max + ")"));
    labels.forEach(function (label, i) {
      var base = height - bottom;
      series.forEach(function (ser) {
        var h = (ser.values[i] / max) * (height - bottom - top);
        if (h > 0) {
          var rect = el("rect", { x: left + i * slot + 2, y: base - h, width: Math.max(1, slot - 4), height: h, "class": ser.cls });
          rect.appendChild(el("title", {}, label + ": " + ser.values[i] + " " + ser.name));
          svg.appendChild(rect);
          base -= h;
        }
      });
      if (i % 3 === 0) svg.appendChild(el("text", { x: left + i * slot, y: height - 4 }, label));
    });
    svg.appendChild(el("text", { x: 0, y: top + 8 }, String(max)));
    svg.appendChild(el("text", { x: 0, y: height - bottom }, "0"));
    container.innerHTML = "";
    container.appendChild(svg);
  }

  function drawCharts(root) {
    var dataNode = root.querySelector("#ops-chart-data");
    if (!dataNode) return;
    var data = JSON.parse(dataNode.textContent);
    root.querySelectorAll(".ops-chart").forEach(function (node) {
      if (node.dataset.chart === "orders") {
        barChart(node, data.labels, [{ name: "orders", values: data.orders, cls: "bar" }], node.dataset.title);
      } else {
        barChart(node, data.labels, [{ name: "ok", values: data.runs_ok, cls: "bar" },
                                     { name: "failed", values: data.runs_failed, cls: "bar-bad" }], node.dataset.title);
      }
    });
  }

  function refresh(root) {
    // Re-fetch this page and swap the live panels (running runs with their page counts, integrations, orders).
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["ops-running", "ops-integrations", "ops-orders", "ops-exceptions"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(fresh);
        });
        var freshData = doc.getElementById("ops-chart-data"), oldData = document.getElementById("ops-chart-data");
        if (freshData && oldData) { oldData.textContent = freshData.textContent; drawCharts(root); }
      })
      .catch(function () { /* next tick retries */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("ops-dashboard");
    if (!root) return;
    drawCharts(root);
    var seconds = parseInt(root.dataset.refreshSeconds || "5", 10);
    window.setInterval(function () { if (!document.hidden) refresh(root); }, seconds * 1000);
  });
})();
