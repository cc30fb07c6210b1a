// Replenish front-end glue: CSRF header for htmx, polling paused while hidden, embed messages.
// No inline script anywhere (CSP script-src 'self'); htmx is configured not to eval.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // hx-confirm asks in the page's own <dialog> (base.html), which works in a sandboxed frame.
  document.addEventListener("htmx:confirm", function (evt) {
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

  // Every htmx request carries the CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // Polling: elements with data-refresh-seconds get a "refresh" event on that period, only while
  // the tab is visible, never while the operator is mid-action (a request of theirs is running).
  var busy = 0;
  var busySince = 0;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!evt.detail.requestConfig || evt.detail.requestConfig.triggeringEvent === undefined ||
        (evt.detail.requestConfig.triggeringEvent && evt.detail.requestConfig.triggeringEvent.type !== "refresh")) {
      busy += 1;
      busySince = Date.now();
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (busy > 0 && !(evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent &&
        evt.detail.requestConfig.triggeringEvent.type === "refresh")) {
      busy -= 1;
    }
  });

  var lastRefresh = new WeakMap();
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
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { tick(); }
  });

  // Error answers that name their target (HX-Retarget / HX-Reswap: an inline message, a row
  // with its conflict, a form with its errors) are meant to be shown; htmx skips 4xx otherwise.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status >= 400 &&
        (xhr.getResponseHeader("HX-Retarget") || xhr.getResponseHeader("HX-Reswap"))) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  function showMessage(text) {
    var box = document.getElementById("messages");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "flash error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.replaceChildren(p);
  }
  // A dropped connection must not look like a page that silently stopped updating.
  document.addEventListener("htmx:sendError", function () {
    showMessage("The server cannot be reached. The page will update again when it is back.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && !xhr.getResponseHeader("HX-Retarget") && !xhr.getResponseHeader("HX-Redirect")) {
      showMessage("The request failed (" + xhr.status + "). Reload the page to try again.");
    }
  });
  // A successful answer clears a stale connection error.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var box = document.getElementById("messages");
    if (evt.detail.successful && box && box.textContent.indexOf("cannot be reached") !== -1) {
      box.replaceChildren();
    }
  });

  // Messages of the page's message area fade 20 s after they appear (an out-of-band swap
  // replaces #messages itself, so each settle looks again).
  var MESSAGE_MS = 20000;
  function ageMessages() {
    var box = document.getElementById("messages");
    if (!box || !box.firstElementChild || box.hasAttribute("data-fading")) { return; }
    box.setAttribute("data-fading", "");
    var shown = box.firstElementChild;
    setTimeout(function () {
      box.removeAttribute("data-fading");
      if (shown.parentNode !== box) { ageMessages(); return; }
      shown.classList.add("fade-out");
      setTimeout(function () { if (shown.parentNode === box) { box.replaceChildren(); } }, 1000);
    }, MESSAGE_MS);
  }
  document.addEventListener("htmx:afterSettle", ageMessages);
  document.addEventListener("DOMContentLoaded", ageMessages);

  // A view marked data-follow-url refreshes from the address bar (the filter the operator chose
  // last, pushed by tabs and range links), and re-renders as many rows as "Load more" showed so
  // the scroll position stays.
  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.hasAttribute) { return; }
    if (elt.hasAttribute("data-follow-url")) {
      evt.detail.path = window.location.pathname + window.location.search;
    }
    var rows = elt.getAttribute("data-keep-rows");
    if (rows) { evt.detail.parameters.shown = elt.querySelectorAll(rows).length; }
  });

  // Gap table selection: ticked rows survive the table's refreshes (the page re-renders rows),
  // and the bulk button says how many it will retry. Without JavaScript the boxes still submit.
  var selected = new Set();
  function syncSelection() {
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
  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (box.matches && box.matches("input.select-gap")) {
      if (box.checked) { selected.add(box.value); } else { selected.delete(box.value); }
      syncSelection();
    } else if (box.matches && box.matches("input.select-all")) {
      document.querySelectorAll("input.select-gap").forEach(function (b) {
        if (b.disabled) { return; }
        b.checked = box.checked;
        if (box.checked) { selected.add(b.value); } else { selected.delete(b.value); }
      });
      syncSelection();
    }
  });
  // Once Retry selected is sent the ticks are done with (its answer replaces the form, so no
  // later event of that form reaches the document).
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.id === "retry-selected-form") { selected.clear(); }
  });
  document.addEventListener("htmx:afterSettle", syncSelection);
  document.addEventListener("DOMContentLoaded", syncSelection);

  // A gap's history opens under its row (the answer is a detail row); a second click closes it.
  // Open histories stay open when the table refreshes: the refresh asks for them (``open``).
  // Closing needs no request: caught on the way down, before htmx's own click handler.
  document.addEventListener("click", function (evt) {
    var elt = evt.target.closest && evt.target.closest(".history-toggle");
    if (!elt || elt.getAttribute("aria-expanded") !== "true") { return; }
    evt.preventDefault();
    evt.stopPropagation();
    var detail = document.getElementById(elt.getAttribute("aria-controls"));
    if (detail) { detail.remove(); }
    elt.setAttribute("aria-expanded", "false");
    elt.textContent = "History";
  }, true);
  document.addEventListener("htmx:afterSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (elt && elt.classList && elt.classList.contains("history-toggle")) {
      elt.setAttribute("aria-expanded", "true");
      elt.textContent = "Hide history";
    }
  });
  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-keep-rows")) { return; }
    var open = Array.prototype.map.call(
      elt.querySelectorAll("tr.detail-row[data-gap-id]"),
      function (row) { return row.getAttribute("data-gap-id"); }
    );
    if (open.length) { evt.detail.parameters.open = open.join(","); }
    // A row an action changed stays, even if it left the tab, through every refresh until the
    // operator changes the view (a tab, a range, a reload): they watch it go to filled.
    var trigger = evt.detail.triggeringEvent;
    if (trigger && trigger.type === "gaps-changed" && trigger.detail && trigger.detail.keep) {
      [].concat(trigger.detail.keep).forEach(function (id) { keptRows.add(String(id)); });
    }
    if (keptRows.size) { evt.detail.parameters.keep = Array.from(keptRows).slice(-20).join(","); }
  });
  var keptRows = new Set();
  document.addEventListener("htmx:pushedIntoHistory", function () { keptRows.clear(); });
  window.addEventListener("popstate", function () { keptRows.clear(); });

  // Timeline: a click on a gap highlights its rows when they are on the page; otherwise the
  // link loads the gap's state tab starting at that gap (the row is then the :target).
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
  document.addEventListener("click", function (evt) {
    var mark = evt.target.closest && evt.target.closest(".tl-gap");
    if (!mark || evt.ctrlKey || evt.metaKey || evt.shiftKey) { return; }
    var ids = (mark.getAttribute("data-gap-ids") || "").split(" ").filter(Boolean);
    if (highlight(ids, true)) {
      evt.preventDefault();
      highlighted = ids;
    }
  });
  // A refresh replaces the rows; keep the operator's highlight on the new ones.
  document.addEventListener("htmx:afterSettle", function () {
    if (highlighted.length) { highlight(highlighted, false); }
  });

  // Keyboard operators keep their place: a row action (Retry, Stop) swaps the row and a moment
  // later the whole gap view, and either swap would drop focus to <body>. The acted-on row's
  // control (or the row itself) gets focus back after each swap that lost it.
  var lastRowAction = null;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    var row = elt && elt.closest && elt.closest("tr.gap-row[id]");
    if (!row) { return; }
    var active = document.activeElement;
    var control = active && row.contains(active) && active.classList.length ? active.classList[active.classList.length - 1] : "retry";
    lastRowAction = { rowId: row.id, control: control, at: Date.now() };
  });
  document.addEventListener("htmx:afterSettle", function () {
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
  document.addEventListener("mousedown", function () { lastRowAction = null; });

  // Timeline: drag across it to pick a window for the "Retrieve a chosen window" form. The
  // times are written in the camera's zone as the date-time picker's value (ISO, to the minute:
  // the ends snap outwards to whole minutes).
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
  document.addEventListener("pointerdown", function (evt) {
    var svg = evt.target.closest && evt.target.closest("svg.tl[data-start]");
    if (!svg || evt.button !== 0 || !document.querySelector("#window-form input[name=start]")) { return; }
    drag = { svg: svg, from: fraction(svg, evt.clientX), x: evt.clientX, moved: false };
  });
  document.addEventListener("pointermove", function (evt) {
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
  document.addEventListener("pointerup", function (evt) {
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

  // Embedded in a VMS console: tell the parent our height and notable events, allowed origins only.
  // Only to the parent's own origin, and only when it is an allowed one: posting to every
  // allowed origin logs a mismatch in the console for each of the others.
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
    document.addEventListener("htmx:afterSettle", report);
    report();
  }
  document.addEventListener("replenish:gap-retried", function (evt) {
    tellParent({ type: "replenish:gap-retried", gap_id: evt.detail && evt.detail.gap_id });
  });
})();
