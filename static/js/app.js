// Replenish front-end glue, one section per behaviour; each section owns its listeners.
// No inline script anywhere (CSP script-src 'self'); htmx is configured not to eval.
//
// What htmx does by its own settings (templates/base.html), not here:
//   - the CSRF header: <body hx-headers='{"X-CSRFToken": ...}'>, inherited by every request;
//   - error answers meant to be shown (4xx and 500 carrying HX-Retarget/HX-Reswap: a row's
//     conflict, a form with its errors, the inline error in #messages) are swapped:
//     htmx.config.responseHandling in the htmx-config meta;
//   - URLs pushed by tabs, range links and filters: hx-push-url on the elements.
//
// The protocol between this file and the gap pages (webapp/pages/gap_pages.py says the same):
//   request   X-CSRFToken header   every htmx request (hx-headers, above).
//             shown                rows under [data-keep-rows] when it refreshes.
//             open                 gap ids whose history row (tr.detail-row) is open.
//             keep                 gap ids an action changed (from gaps-changed), at most 20.
//             path of a refresh    [data-follow-url] refreshes from the address bar's URL.
//   answer    HX-Trigger           gaps-changed {"keep": [gap id]}: the gap view refreshes,
//                                  keeping that row; replenish:gap-retried {"gap_id"}: told
//                                  to an embedding console.
//             HX-Retarget/Reswap   on a 4xx or 500: an answer meant to be shown (swapped).
//   markup    data-refresh-seconds polled with a "refresh" event while the tab is visible.
//             .row-error           a row's conflict stays readable 15 s before a refresh.
(function () {
  "use strict";

  function on(type, handler, options) { document.addEventListener(type, handler, options); }
  function triggeredBy(detail, type) {
    var trigger = detail && detail.requestConfig && detail.requestConfig.triggeringEvent;
    return !!trigger && trigger.type === type;
  }

  // ---- Confirmations -------------------------------------------------------------------
  // hx-confirm asks in the page's own <dialog> (base.html), which works in a sandboxed frame.
  (function confirmations() {
    on("htmx:confirm", function (evt) {
      var dialog = document.getElementById("confirm-dialog");
      if (!evt.detail.question || !dialog || !dialog.showModal) { return; }
      evt.preventDefault();
      document.getElementById("confirm-text").textContent = evt.detail.question;
      dialog.returnValue = "";
      dialog.addEventListener("close", function () {
        if (dialog.returnValue === "ok") { evt.detail.issueRequest(true); }
      }, { once: true });
      dialog.showModal();
    });
  })();

  // ---- Polling -------------------------------------------------------------------------
  // Elements with data-refresh-seconds get a "refresh" event on that period, only while the
  // tab is visible, never while the operator is mid-action (a request of theirs is running).
  (function polling() {
    var busy = 0;
    var busySince = 0;
    var lastRefresh = new WeakMap();
    on("htmx:beforeRequest", function (evt) {
      if (!triggeredBy(evt.detail, "refresh")) {
        busy += 1;
        busySince = Date.now();
      }
    });
    on("htmx:afterRequest", function (evt) {
      if (busy > 0 && !triggeredBy(evt.detail, "refresh")) { busy -= 1; }
    });
    function tick() {
      // A request whose end was never reported must not stop the page updating for good.
      if (busy > 0 && Date.now() - busySince > 30000) { busy = 0; }
      if (document.visibilityState !== "visible" || busy > 0) { return; }
      var now = Date.now();
      document.querySelectorAll("[data-refresh-seconds]").forEach(function (el) {
        var period = parseFloat(el.getAttribute("data-refresh-seconds")) * 1000;
        var last = lastRefresh.get(el) || now;
        if (!lastRefresh.has(el)) { lastRefresh.set(el, now); return; }
        // A conflict shown in a row stays readable for a while before a refresh replaces it.
        var notice = el.querySelector(".row-error");
        if (notice) {
          if (!notice.hasAttribute("data-seen")) { notice.setAttribute("data-seen", String(now)); }
          if (now - parseFloat(notice.getAttribute("data-seen")) < 15000) { return; }
        }
        if (now - last >= period) {
          lastRefresh.set(el, now);
          if (window.htmx) { window.htmx.trigger(el, "refresh"); }
        }
      });
    }
    setInterval(tick, 1000);
    on("visibilitychange", function () {
      if (document.visibilityState === "visible") { tick(); }
    });
  })();

  // ---- Messages ------------------------------------------------------------------------
  // The page's message area (#messages): a dropped connection or a failed request must not
  // look like a page that silently stopped updating; messages fade 20 s after they appear.
  (function messages() {
    var MESSAGE_MS = 20000;
    var UNREACHABLE = "The server cannot be reached. The page will update again when it is back.";
    function box() { return document.getElementById("messages"); }
    function show(text) {
      var area = box();
      if (!area) { return; }
      var p = document.createElement("p");
      p.className = "flash error";
      p.setAttribute("role", "alert");
      p.textContent = text;
      area.replaceChildren(p);
    }
    on("htmx:sendError", function () { show(UNREACHABLE); });
    // Answers meant to be shown are swapped (responseHandling) and raise no error event.
    on("htmx:responseError", function (evt) {
      var xhr = evt.detail.xhr;
      if (xhr) { show("The request failed (" + xhr.status + "). Reload the page to try again."); }
    });
    // A successful answer clears a stale connection error.
    on("htmx:afterRequest", function (evt) {
      var area = box();
      if (evt.detail.successful && area && area.textContent.indexOf("cannot be reached") !== -1) {
        area.replaceChildren();
      }
    });
    // An out-of-band swap replaces #messages itself, so each settle looks again.
    function age() {
      var area = box();
      if (!area || !area.firstElementChild || area.hasAttribute("data-fading")) { return; }
      area.setAttribute("data-fading", "");
      var shown = area.firstElementChild;
      setTimeout(function () {
        area.removeAttribute("data-fading");
        if (shown.parentNode !== area) { age(); return; }
        shown.classList.add("fade-out");
        setTimeout(function () { if (shown.parentNode === area) { area.replaceChildren(); } }, 1000);
      }, MESSAGE_MS);
    }
    on("htmx:afterSettle", age);
    on("DOMContentLoaded", age);
  })();

  // ---- Gap view refresh (the request half of the protocol above) -------------------------
  // A view marked data-follow-url refreshes from the address bar (the filter the operator chose
  // last, pushed by tabs and range links); a view marked data-keep-rows re-renders as many rows
  // as "Load more" showed (so the scroll position stays), keeps open histories open, and keeps
  // the rows an action changed, even if they left the tab, through every refresh until the
  // operator changes the view (a tab, a range, a reload): they watch it go to filled.
  (function gapViewRefresh() {
    var keptRows = new Set();
    on("htmx:configRequest", function (evt) {
      var elt = evt.detail.elt;
      if (!elt || !elt.hasAttribute) { return; }
      if (elt.hasAttribute("data-follow-url")) {
        evt.detail.path = window.location.pathname + window.location.search;
      }
      var rows = elt.getAttribute("data-keep-rows");
      if (!rows) { return; }
      var params = evt.detail.parameters;
      params.shown = elt.querySelectorAll(rows).length;
      var open = Array.prototype.map.call(
        elt.querySelectorAll("tr.detail-row[data-gap-id]"),
        function (row) { return row.getAttribute("data-gap-id"); }
      );
      if (open.length) { params.open = open.join(","); }
      var trigger = evt.detail.triggeringEvent;
      if (trigger && trigger.type === "gaps-changed" && trigger.detail && trigger.detail.keep) {
        [].concat(trigger.detail.keep).forEach(function (id) { keptRows.add(String(id)); });
      }
      if (keptRows.size) { params.keep = Array.from(keptRows).slice(-20).join(","); }
    });
    on("htmx:pushedIntoHistory", function () { keptRows.clear(); });
    window.addEventListener("popstate", function () { keptRows.clear(); });
  })();

  // ---- Gap selection -------------------------------------------------------------------
  // Ticked rows survive the table's refreshes (the page re-renders rows), and the bulk button
  // says how many it will retry. Without JavaScript the boxes still submit.
  (function selection() {
    var selected = new Set();
    function sync() {
      var boxes = document.querySelectorAll("input.select-gap");
      var present = new Set();
      boxes.forEach(function (box) {
        present.add(box.value);
        if (selected.has(box.value)) { box.checked = true; }
      });
      selected.forEach(function (id) { if (!present.has(id)) { selected.delete(id); } });
      var n = 0;
      boxes.forEach(function (box) { if (box.checked && !box.disabled) { n += 1; } });
      document.querySelectorAll("button[data-selected-label]").forEach(function (button) {
        button.disabled = n === 0;
        button.textContent = n ? "Retry " + n + " selected" : button.getAttribute("data-selected-label");
      });
      document.querySelectorAll("input.select-all").forEach(function (all) {
        var enabled = Array.prototype.filter.call(boxes, function (b) { return !b.disabled; });
        all.checked = enabled.length > 0 && enabled.every(function (b) { return b.checked; });
        all.indeterminate = n > 0 && !all.checked;
      });
    }
    on("change", function (evt) {
      var box = evt.target;
      if (box.matches && box.matches("input.select-gap")) {
        if (box.checked) { selected.add(box.value); } else { selected.delete(box.value); }
        sync();
      } else if (box.matches && box.matches("input.select-all")) {
        document.querySelectorAll("input.select-gap").forEach(function (b) {
          if (b.disabled) { return; }
          b.checked = box.checked;
          if (box.checked) { selected.add(b.value); } else { selected.delete(b.value); }
        });
        sync();
      }
    });
    // Once Retry selected is sent the ticks are done with (its answer replaces the form, so no
    // later event of that form reaches the document).
    on("htmx:beforeRequest", function (evt) {
      var elt = evt.detail.elt;
      if (elt && elt.id === "retry-selected-form") { selected.clear(); }
    });
    on("htmx:afterSettle", sync);
    on("DOMContentLoaded", sync);
  })();

  // ---- Gap history ---------------------------------------------------------------------
  // A gap's history opens under its row (the answer is a detail row); a second click closes it.
  // Open histories stay open when the table refreshes (``open``, in Gap view refresh).
  (function history() {
    // Closing needs no request: caught on the way down, before htmx's own click handler.
    on("click", function (evt) {
      var elt = evt.target.closest && evt.target.closest(".history-toggle");
      if (!elt || elt.getAttribute("aria-expanded") !== "true") { return; }
      evt.preventDefault();
      evt.stopPropagation();
      var detail = document.getElementById(elt.getAttribute("aria-controls"));
      if (detail) { detail.remove(); }
      elt.setAttribute("aria-expanded", "false");
      elt.textContent = "History";
    }, true);
    on("htmx:afterSwap", function (evt) {
      var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
      if (elt && elt.classList && elt.classList.contains("history-toggle")) {
        elt.setAttribute("aria-expanded", "true");
        elt.textContent = "Hide history";
      }
    });
  })();

  // ---- Timeline: highlight -------------------------------------------------------------
  // A click on a gap highlights its rows when they are on the page; otherwise the link loads
  // the gap's state tab starting at that gap (the row is then the :target).
  (function timelineHighlight() {
    var highlighted = [];
    function highlight(ids, scroll) {
      document.querySelectorAll("tr.highlight, .tl-gap.selected").forEach(function (el) {
        el.classList.remove("highlight", "selected");
      });
      var first = null;
      ids.forEach(function (id) {
        var row = document.getElementById("gap-" + id);
        if (row) { row.classList.add("highlight"); first = first || row; }
      });
      document.querySelectorAll(".tl-gap").forEach(function (mark) {
        var markIds = (mark.getAttribute("data-gap-ids") || "").split(" ");
        if (markIds.some(function (id) { return ids.indexOf(id) !== -1; })) {
          mark.classList.add("selected");
        }
      });
      if (first && scroll) {
        first.setAttribute("tabindex", "-1");
        first.scrollIntoView({ block: "center", behavior: "smooth" });
        first.focus({ preventScroll: true });
      }
      return first;
    }
    on("click", function (evt) {
      var mark = evt.target.closest && evt.target.closest(".tl-gap");
      if (!mark || evt.ctrlKey || evt.metaKey || evt.shiftKey) { return; }
      var ids = (mark.getAttribute("data-gap-ids") || "").split(" ").filter(Boolean);
      if (highlight(ids, true)) {
        evt.preventDefault();
        highlighted = ids;
      }
    });
    // A refresh replaces the rows; keep the operator's highlight on the new ones.
    on("htmx:afterSettle", function () {
      if (highlighted.length) { highlight(highlighted, false); }
    });
  })();

  // ---- Row focus -----------------------------------------------------------------------
  // Keyboard operators keep their place: a row action (Retry, Stop) swaps the row and a moment
  // later the whole gap view, and either swap would drop focus to <body>. The acted-on row's
  // control (or the row itself) gets focus back after each swap that lost it.
  (function rowFocus() {
    var lastRowAction = null;
    on("htmx:beforeRequest", function (evt) {
      var elt = evt.detail.elt;
      var row = elt && elt.closest && elt.closest("tr.gap-row[id]");
      if (!row) { return; }
      var active = document.activeElement;
      var control = active && row.contains(active) && active.classList.length ? active.classList[active.classList.length - 1] : "retry";
      lastRowAction = { rowId: row.id, control: control, at: Date.now() };
    });
    on("htmx:afterSettle", function () {
      if (!lastRowAction || Date.now() - lastRowAction.at > 15000) { return; }
      var active = document.activeElement;
      if (active && active !== document.body && document.contains(active)) { return; }
      var row = document.getElementById(lastRowAction.rowId);
      if (!row) { return; }
      var target = row.querySelector("button." + lastRowAction.control + ":not([disabled])");
      if (!target) {
        row.setAttribute("tabindex", "-1");
        target = row;
      }
      target.focus({ preventScroll: true });
    });
    on("mousedown", function () { lastRowAction = null; });
  })();

  // ---- Timeline: drag to choose a window -------------------------------------------------
  // Drag across the timeline to pick a window for the "Retrieve a chosen window" form. The
  // times are written in the camera's zone as the date-time picker's value (ISO, to the minute:
  // the ends snap outwards to whole minutes).
  (function timelineDrag() {
    function zoned(ms, tz) {
      var parts = {};
      new Intl.DateTimeFormat("en-GB", {
        timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
      return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
    }
    var drag = null;
    function fraction(svg, clientX) {
      var box = svg.getBoundingClientRect();
      return Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    }
    on("pointerdown", function (evt) {
      var svg = evt.target.closest && evt.target.closest("svg.tl[data-start]");
      if (!svg || evt.button !== 0 || !document.querySelector("#window-form input[name=start]")) { return; }
      drag = { svg: svg, from: fraction(svg, evt.clientX), x: evt.clientX, moved: false };
    });
    on("pointermove", function (evt) {
      if (!drag) { return; }
      if (!drag.moved && Math.abs(evt.clientX - drag.x) < 5) { return; }
      drag.moved = true;
      drag.svg.classList.add("dragging");
      var to = fraction(drag.svg, evt.clientX);
      var sel = drag.svg.querySelector(".tl-selection");
      if (sel) {
        sel.removeAttribute("hidden");
        sel.setAttribute("x", (Math.min(drag.from, to) * 100).toFixed(3) + "%");
        sel.setAttribute("width", (Math.abs(to - drag.from) * 100).toFixed(3) + "%");
      }
      evt.preventDefault();
    });
    on("pointerup", function (evt) {
      if (!drag) { return; }
      var done = drag;
      drag = null;
      done.svg.classList.remove("dragging");
      if (!done.moved) { return; }
      var to = fraction(done.svg, evt.clientX);
      var start = Date.parse(done.svg.getAttribute("data-start"));
      var end = Date.parse(done.svg.getAttribute("data-end"));
      var tz = done.svg.getAttribute("data-tz") || "UTC";
      var a = start + Math.min(done.from, to) * (end - start);
      var b = start + Math.max(done.from, to) * (end - start);
      var form = document.getElementById("window-form");
      var from = form && form.querySelector("input[name=start]");
      var until = form && form.querySelector("input[name=end]");
      if (!from || !until) { return; }
      from.value = zoned(Math.floor(a / 60000) * 60000, tz);
      until.value = zoned(Math.ceil(b / 60000) * 60000, tz);
      if (form.tagName === "DETAILS") { form.open = true; }
      from.focus();
      // The pointer went up over a gap link: that click is the end of a drag, not a navigation.
      var swallow = function (e) { e.preventDefault(); e.stopPropagation(); };
      done.svg.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(function () { done.svg.removeEventListener("click", swallow, true); }, 400);
    });
  })();

  // ---- Embedded in a VMS console -------------------------------------------------------
  // Tell the parent our height and notable events: only to the parent's own origin, and only
  // when it is an allowed one (posting to every allowed origin logs a mismatch in the console
  // for each of the others).
  (function embedMessages() {
    function parentOrigin() {
      var meta = document.querySelector('meta[name="replenish-embed-origins"]');
      if (!meta || window.parent === window) { return null; }
      var allowed = (meta.getAttribute("content") || "").split(/\s+/).filter(Boolean);
      var origin = null;
      if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
        origin = window.location.ancestorOrigins[0];
      } else {
        // Without ancestorOrigins: the referrer of the frame's first page, kept for the session.
        try {
          origin = sessionStorage.getItem("replenish-parent") ||
            (document.referrer ? new URL(document.referrer).origin : null);
          if (origin && origin !== window.location.origin) { sessionStorage.setItem("replenish-parent", origin); }
        } catch (e) { origin = null; }
      }
      return origin && allowed.indexOf(origin) !== -1 ? origin : null;
    }
    function tellParent(message) {
      var origin = parentOrigin();
      if (origin) { window.parent.postMessage(message, origin); }
    }
    if (document.querySelector("[data-session-ended]")) {
      tellParent({ type: "replenish:session-ended" });
    }
    if (document.body && document.body.classList.contains("embed")) {
      var lastHeight = 0;
      var report = function () {
        var h = document.documentElement.scrollHeight;
        if (h !== lastHeight) { lastHeight = h; tellParent({ type: "replenish:resize", height: h }); }
      };
      if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
      on("htmx:afterSettle", report);
      report();
    }
    // The answer's HX-Trigger (a Retry from a row) raises this on the row.
    on("replenish:gap-retried", function (evt) {
      tellParent({ type: "replenish:gap-retried", gap_id: evt.detail && evt.detail.gap_id });
    });
  })();
})();
