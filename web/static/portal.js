/* The portal's progressive enhancement; every page works without it.
   - autocomplete on the search box (ARIA 1.2 combobox + listbox) from /api/v1/suggest:
     terms and titles fill the box, facet values add a facet filter;
   - filters, sorting and file-table controls submit on change (the Apply buttons are
     for browsers without JavaScript), and focus returns to the control after the reload;
   - empty fields are left out of the address;
   - the release-year histogram reads out the bar under the pointer or focus;
   - the filter panel starts folded on narrow screens. */
(function () {
  "use strict";

  var FOCUS_KEY = "portal-focus";

  function dropEmptyFields(form) {
    form.addEventListener("formdata", function (event) {
      var data = event.formData;
      var names = [];
      data.forEach(function (value, name) {
        if (value === "" && names.indexOf(name) < 0) names.push(name);
      });
      names.forEach(function (name) {
        var kept = data.getAll(name).filter(function (v) { return v !== ""; });
        data.delete(name);
        kept.forEach(function (v) { data.append(name, v); });
      });
    });
  }

  function submit(form) {
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function autoSubmit() {
    document.addEventListener("change", function (event) {
      var el = event.target;
      if (!el.classList || !el.classList.contains("auto-submit") || !el.form) return;
      try {
        sessionStorage.setItem(FOCUS_KEY, JSON.stringify({ id: el.id, name: el.name, value: el.value }));
      } catch (e) { /* storage may be unavailable */ }
      submit(el.form);
    });
    var saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(FOCUS_KEY) || "null");
      sessionStorage.removeItem(FOCUS_KEY);
    } catch (e) { saved = null; }
    if (!saved) return;
    var target = saved.id ? document.getElementById(saved.id) : null;
    if (!target) {
      var candidates = document.querySelectorAll(".auto-submit");
      for (var i = 0; i < candidates.length; i++) {
        if (candidates[i].name === saved.name && candidates[i].value === saved.value) { target = candidates[i]; break; }
      }
    }
    if (target) {
      var details = target.closest("details");
      while (details) { details.open = true; details = details.parentElement.closest("details"); }
      target.focus();
    }
  }

  function combobox(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var status = document.getElementById("q-status");
    var url = input.getAttribute("data-suggest-url");
    var titles = {};
    try { titles = JSON.parse(input.getAttribute("data-facet-titles") || "{}"); } catch (e) { titles = {}; }
    var items = [];
    var active = -1;
    var timer = null;
    var seq = 0;

    function announce(text) { if (status) status.textContent = text; }

    function close() {
      list.hidden = true;
      list.textContent = "";
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function kindLabel(s) {
      var label = s.kind === "facet" ? (titles[s.facet] || s.facet_title || s.facet || "Filter")
        : s.kind === "title" ? "Dataset title" : "Search term";
      return typeof s.count === "number" ? label + " · " + s.count : label;
    }

    function spoken(s) {
      var kind = s.kind === "facet" ? (titles[s.facet] || s.facet || "Filter") + " filter"
        : s.kind === "title" ? "Dataset title" : "Search term";
      var count = typeof s.count === "number" ? ", " + s.count + (s.count === 1 ? " dataset" : " datasets") : "";
      return (s.label || s.text) + ", " + kind + count;
    }

    function normalise(body) {
      if (!body) return [];
      var data = body.data !== undefined ? body.data : body;
      if (data && !Array.isArray(data)) data = data.suggestions || data.items || [];
      return (data || []).filter(function (s) { return s && (s.text || s.label); });
    }

    function render(suggestions) {
      list.textContent = "";
      items = suggestions;
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (!items.length) { close(); announce("No suggestions."); return; }
      items.forEach(function (s, i) {
        var li = document.createElement("li");
        li.id = "q-option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.setAttribute("data-index", String(i));
        if (s.kind === "facet") li.setAttribute("data-facet", s.facet || "");
        var text = document.createElement("span");
        text.className = "s-text";
        text.textContent = s.label || s.text;
        var kind = document.createElement("span");
        kind.className = "s-kind" + (s.kind === "facet" ? " facet" : "");
        kind.textContent = kindLabel(s);
        li.appendChild(text);
        li.appendChild(kind);
        li.setAttribute("aria-label", spoken(s));
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      announce(items.length + (items.length === 1 ? " suggestion" : " suggestions") + ": use the up and down arrows to choose, Enter to pick.");
    }

    function fetchSuggestions() {
      var prefix = input.value.trim();
      var mine = ++seq;
      if (prefix.length < 2) { close(); return; }
      fetch(url + "?q=" + encodeURIComponent(prefix) + "&limit=8", { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (mine === seq && document.activeElement === input) render(normalise(body)); })
        .catch(function () { if (mine === seq) close(); });
    }

    function move(delta) {
      if (!items.length) return;
      var n = items.length;
      active = delta > 0 ? (active + 1) % n : (active <= 0 ? n - 1 : active - 1);
      var options = list.querySelectorAll("[role=option]");
      for (var i = 0; i < options.length; i++) options[i].setAttribute("aria-selected", i === active ? "true" : "false");
      var current = options[active];
      input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    }

    function choose(i) {
      var s = items[i];
      if (!s) return;
      var form = input.form;
      if (s.kind === "facet" && s.facet && s.key) {
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "facet." + s.facet;
        hidden.value = s.key;
        form.appendChild(hidden);
        input.value = "";
      } else {
        input.value = s.text || s.label;
      }
      close();
      submit(form);
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, 150);
    });
    input.addEventListener("keydown", function (event) {
      var open = !list.hidden;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (open) move(1); else fetchSuggestions();
      } else if (event.key === "ArrowUp") {
        if (open) { event.preventDefault(); move(-1); }
      } else if (event.key === "Enter") {
        if (open && active >= 0) { event.preventDefault(); choose(active); }
      } else if (event.key === "Escape") {
        if (open) { event.preventDefault(); close(); announce("Suggestions closed."); }
      } else if (event.key === "Tab") {
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(function () { if (document.activeElement !== input) close(); }, 100); });
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    list.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) choose(Number(option.getAttribute("data-index")));
    });
  }

  function histogram() {
    var readouts = document.querySelectorAll(".histogram");
    Array.prototype.forEach.call(readouts, function (figure) {
      var out = figure.querySelector(".histogram-readout");
      if (!out) return;
      function show(event) {
        var bar = event.target.closest && event.target.closest(".bar");
        if (!bar) return;
        var count = Number(bar.getAttribute("data-count"));
        out.textContent = bar.getAttribute("data-year") + ": " + count + (count === 1 ? " dataset" : " datasets");
      }
      figure.addEventListener("mouseover", show);
      figure.addEventListener("focusin", show);
      figure.addEventListener("mouseleave", function () { out.textContent = ""; });
    });
  }

  function foldFiltersOnNarrowScreens() {
    var panel = document.querySelector(".filters-panel");
    if (panel && window.matchMedia && window.matchMedia("(max-width: 52rem)").matches) panel.open = false;
  }

  Array.prototype.forEach.call(document.forms, dropEmptyFields);
  foldFiltersOnNarrowScreens();
  autoSubmit();
  histogram();
  var box = document.getElementById("q");
  if (box && box.getAttribute("role") === "combobox") combobox(box);
})();
