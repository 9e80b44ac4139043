// Routing rule form: "Preview the values being edited" posts the form's fields to the preview URL (nothing is saved)
// and shows how many of the latest orders those values match (orders.admin.RoutingRuleAdmin.preview_view).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const button = document.getElementById("rule-preview-button");
  const out = document.getElementById("rule-preview");
  if (!button || !out) { return; }
  button.addEventListener("click", function () {
    const form = button.closest("form");
    // The two-box country selector submits the chosen box's options only once they are selected.
    document.querySelectorAll("#id_countries_to option").forEach(function (option) { option.selected = true; });
    out.textContent = "Counting…";
    fetch(button.dataset.url, {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.text) { out.textContent = data.text; return; }
        out.textContent = Object.keys(data.errors || {}).map(function (name) {
          return name + ": " + data.errors[name].join(" ");
        }).join("; ");
      })
      .catch(function () { out.textContent = "The preview could not be computed."; });
  });
});
