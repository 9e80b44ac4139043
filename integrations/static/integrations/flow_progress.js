// Integration page, flows table: while a flow run is queued (after Run now / Force resync: ?follow=<flow state>&after=<run id>)
// or running, poll the flows' latest runs (IntegrationAdmin.flow_progress_view, JSON) every 3 s and update each
// "last run" cell in place, until nothing is queued or running. No reload: edits in the settings form are kept.
(function () {
  "use strict";
  const POLL_MS = 3000, MAX_POLLS = 400;  // 20 minutes at most

  function cells() {
    const found = {};
    document.querySelectorAll(".flow-last-run-cell[data-flow-state]").forEach(function (cell) { found[cell.dataset.flowState] = cell; });
    return found;
  }

  function render(cell, run, queued) {
    cell.textContent = "";
    if (!run) {
      cell.textContent = queued ? "queued, waiting for a worker…" : "never";
      return;
    }
    const link = document.createElement("a");
    link.href = run.url;
    link.className = "flow-last-run flow-run-" + run.status;
    link.textContent = "#" + run.id + " " + run.status;
    cell.appendChild(link);
    cell.dataset.run = run.id;
    const help = document.createElement("span");
    help.className = "help";
    help.textContent = run.started + " · " + run.detail + (queued ? " · a new run is queued, waiting for a worker…" : "");
    cell.appendChild(document.createElement("br"));
    cell.appendChild(help);
    if (run.error) {
      const error = document.createElement("span");
      error.className = "errornote";
      error.style.padding = "2px 4px";
      error.textContent = run.error;
      cell.appendChild(document.createElement("br"));
      cell.appendChild(error);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const anchor = document.getElementById("flows");
    if (!anchor || !anchor.dataset.progressUrl) { return; }
    const query = new URLSearchParams(window.location.search);
    const follow = query.get("follow"), after = parseInt(query.get("after") || "0", 10);
    let polls = 0;

    function busy() {
      const all = cells();
      const waiting = follow && all[follow] && !(parseInt(all[follow].dataset.run || "0", 10) > after);
      return waiting || document.querySelector(".flow-last-run-cell .flow-run-running") !== null;
    }

    function poll() {
      polls += 1;
      fetch(anchor.dataset.progressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.json(); })
        .then(function (data) {
          const all = cells();
          data.flows.forEach(function (flow) {
            const cell = all[String(flow.id)];
            if (!cell) { return; }
            const queued = String(flow.id) === follow && !(flow.run && flow.run.id > after);
            render(cell, flow.run, queued);
          });
          if (busy() && polls < MAX_POLLS) { window.setTimeout(poll, POLL_MS); }
        })
        .catch(function () { if (polls < MAX_POLLS) { window.setTimeout(poll, POLL_MS * 2); } });
    }

    if (busy()) {
      const all = cells();
      if (follow && all[follow] && !(parseInt(all[follow].dataset.run || "0", 10) > after)) {
        const note = document.createElement("span");
        note.className = "help";
        note.textContent = " · a new run is queued, waiting for a worker…";
        all[follow].appendChild(note);
      }
      window.setTimeout(poll, POLL_MS);
    }
  });
})();
