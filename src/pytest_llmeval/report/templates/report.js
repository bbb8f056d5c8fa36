// Filters the list of every case by group, outcome, category and text. The page reads
// fully without it; "#filter=outcome:failed,group:triage&search=word" sets the filters.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var list = document.getElementById("cases");
  var status = document.getElementById("filter-status");
  if (!form || !list || !status) { return; }
  var cases = list.getElementsByClassName("case");
  var texts = null;
  var selects = {
    group: document.getElementById("filter-group"),
    outcome: document.getElementById("filter-outcome"),
    category: document.getElementById("filter-category")
  };
  var search = document.getElementById("filter-search");
  form.hidden = false;
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  function apply() {
    var wanted = {};
    Object.keys(selects).forEach(function (name) { wanted[name] = selects[name].value; });
    var query = search.value.trim().toLowerCase();
    if (query && texts === null) {
      texts = [];
      for (var t = 0; t < cases.length; t++) { texts.push(cases[t].textContent.toLowerCase()); }
    }
    var shown = 0;
    for (var i = 0; i < cases.length; i++) {
      var item = cases[i];
      var keep = (!wanted.group || item.getAttribute("data-group") === wanted.group) &&
        (!wanted.outcome || item.getAttribute("data-outcome") === wanted.outcome) &&
        (!wanted.category || item.getAttribute("data-category") === wanted.category) &&
        (!query || texts[i].indexOf(query) !== -1);
      item.hidden = !keep;
      if (keep) { shown++; }
    }
    status.textContent = shown + " of " + cases.length + " cases shown";
    status.setAttribute("data-shown", String(shown));
  }

  // A value no case has (a link from another run) still filters: it shows no case.
  function choose(select, value) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) { select.selectedIndex = i; return; }
    }
    var option = document.createElement("option");
    option.textContent = value;
    select.appendChild(option);
    select.selectedIndex = select.options.length - 1;
  }

  function fromHash() {
    var hash = window.location.hash.slice(1);
    if (hash.indexOf("filter=") !== 0 && hash.indexOf("search=") !== 0) { return false; }
    Object.keys(selects).forEach(function (name) { selects[name].selectedIndex = 0; });
    search.value = "";
    hash.split("&").forEach(function (part) {
      var at = part.indexOf("=");
      var key = part.slice(0, at);
      var value = decodeURIComponent(part.slice(at + 1));
      if (key === "search") { search.value = value; }
      if (key === "filter") {
        value.split(",").forEach(function (pair) {
          var colon = pair.indexOf(":");
          var name = pair.slice(0, colon);
          if (selects.hasOwnProperty(name)) { choose(selects[name], pair.slice(colon + 1)); }
        });
      }
    });
    return true;
  }

  Object.keys(selects).forEach(function (name) { selects[name].addEventListener("change", apply); });
  search.addEventListener("input", apply);
  window.addEventListener("hashchange", function () { if (fromHash()) { apply(); } });
  fromHash();
  apply();
}());
