/* labelclean report: gallery, review and export, drawn from window.LABELCLEAN_DATA.
 *
 * Every element is built with createElement + textContent: no value from the data is
 * ever parsed as markup. Only one page of cards exists in the DOM at a time, and images
 * load lazily, so the page stays quick however many images were flagged.
 */
(function () {
  "use strict";
  var D = window.LABELCLEAN_DATA;
  if (!D) { return; }
  var ACTIONS = D.actions;
  var NAMES = new Map(D.classes.map(function (c) { return [c[0], c[1]]; }));
  var M = D.manifest ? decodeTable(D.manifest) : null;
  var STORE_KEY = "labelclean-edits:" + D.report_id;
  var edits = loadEdits();
  var gallery = { rows: [], page: 0, size: 48 };
  var dups = { rows: D.groups, page: 0, size: 12 };
  var bad = { page: 0, size: 50 };

  // -- small helpers ---------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function $(id) { return document.getElementById(id); }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function labelText(value) {
    var name = NAMES.get(value);
    return name && name !== value ? value + " \u00b7 " + name : value;
  }
  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }
  function thumbUrl(name) { return name ? "assets/thumbs/" + encodeURIComponent(name) : ""; }
  function decodeTable(t) {
    var cols = {};
    t.columns.forEach(function (name) {
      var c = t.cols[name];
      cols[name] = c.values ? c.values : c.codes.map(function (k) { return c.dict[k]; });
    });
    return { columns: t.columns, n: t.n, cols: cols };
  }

  // -- decisions and edits ---------------------------------------------------------------
  function loadEdits() {
    var found = new Map();
    if (!M) { return found; }
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}");
      Object.keys(saved).forEach(function (k) {
        var row = Number(k), e = saved[k];
        if (row >= 0 && row < M.n && Array.isArray(e) && ACTIONS.indexOf(e[0]) >= 0 &&
            typeof e[1] === "string") {
          found.set(row, { action: e[0], label: e[1] });
        }
      });
    } catch (err) { /* storage unavailable: edits live until the page closes */ }
    return found;
  }
  function saveEdits() {
    var obj = {};
    edits.forEach(function (e, row) { obj[row] = [e.action, e.label]; });
    try { window.localStorage.setItem(STORE_KEY, JSON.stringify(obj)); } catch (err) { /* */ }
    var n = edits.size;
    $("edit-count").textContent = n ? fmt(n) + (n === 1 ? " edit" : " edits") : "no edits";
    $("reset-edits").disabled = n === 0;
  }
  function actionOf(row) {
    var e = edits.get(row);
    return e ? e.action : M.cols.action[row];
  }
  function labelOf(row) {
    var e = edits.get(row);
    return e ? e.label : M.cols.suggested_label[row];
  }
  function setDecision(row, action, label) {
    if (action === M.cols.action[row] && label === M.cols.suggested_label[row]) {
      edits.delete(row);
    } else {
      edits.set(row, { action: action, label: label });
    }
    saveEdits();
  }

  // -- the export --------------------------------------------------------------------------
  function csvCell(value) {
    var s = String(value);
    return /[",\r\n]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  }
  function manifestCsv() {
    var cols = M.columns, lines = [cols.map(csvCell).join(",")];
    for (var row = 0; row < M.n; row++) {
      var cells = new Array(cols.length);
      for (var j = 0; j < cols.length; j++) {
        var name = cols[j];
        cells[j] = csvCell(name === "action" ? actionOf(row)
          : name === "suggested_label" ? labelOf(row) : M.cols[name][row]);
      }
      lines.push(cells.join(","));
    }
    return lines.join("\n") + "\n";
  }
  function exportCsv() {
    var blob = new Blob([manifestCsv()], { type: "text/csv;charset=utf-8" });
    var link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = "manifest-reviewed.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  }

  // -- pager -------------------------------------------------------------------------------
  function drawPager(ids, state, total, redraw) {
    var pages = Math.max(1, Math.ceil(total / state.size));
    state.page = Math.min(state.page, pages - 1);
    ids.forEach(function (id) {
      var box = $(id);
      if (!box) { return; }
      box.replaceChildren();
      var first = total ? state.page * state.size + 1 : 0;
      var last = Math.min(total, (state.page + 1) * state.size);
      box.appendChild(el("span", "pager-info",
        "Showing " + fmt(first) + "\u2013" + fmt(last) + " of " + fmt(total)));
      var prev = el("button", "ghost", "\u2039 Prev"), next = el("button", "ghost", "Next \u203a");
      prev.type = next.type = "button";
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
      prev.addEventListener("click", function () { state.page -= 1; redraw(true); });
      next.addEventListener("click", function () { state.page += 1; redraw(true); });
      box.appendChild(prev);
      box.appendChild(el("span", "pager-page", "page " + fmt(state.page + 1) + " / " + fmt(pages)));
      box.appendChild(next);
    });
  }

  // -- the gallery -------------------------------------------------------------------------
  function fillSelect(select, options) {
    options.forEach(function (o) {
      var opt = el("option", null, o[1]);
      opt.value = o[0];
      select.appendChild(opt);
    });
  }
  function setupFilters() {
    var given = new Map(), reasons = new Map(), actions = new Map();
    D.flagged.forEach(function (row) {
      var g = M.cols.given_label[row];
      given.set(g, (given.get(g) || 0) + 1);
      actions.set(M.cols.action[row], (actions.get(M.cols.action[row]) || 0) + 1);
      reasonsOf(row).forEach(function (r) { reasons.set(r, (reasons.get(r) || 0) + 1); });
    });
    var all = [["", "all"]];
    fillSelect($("f-class"), all.concat(D.classes.filter(function (c) { return given.has(c[0]); })
      .map(function (c) { return [c[0], labelText(c[0]) + " (" + fmt(given.get(c[0])) + ")"]; })));
    fillSelect($("f-action"), all.concat(ACTIONS.filter(function (a) { return actions.has(a); })
      .map(function (a) { return [a, a + " (" + fmt(actions.get(a)) + ")"]; })));
    fillSelect($("f-reason"), all.concat(Array.from(reasons.keys()).sort()
      .map(function (r) { return [r, r + " (" + fmt(reasons.get(r)) + ")"]; })));
    ["f-class", "f-action", "f-reason", "f-sort", "f-edited", "f-size"].forEach(function (id) {
      $(id).addEventListener("change", applyFilters);
    });
    var timer = null;
    $("f-search").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(applyFilters, 150);
    });
  }
  function reasonsOf(row) {
    return M.cols.reason[row].split(";").map(function (s) { return s.trim(); })
      .filter(function (s) { return s; });
  }
  function applyFilters() {
    var q = $("f-search").value.trim().toLowerCase();
    var cls = $("f-class").value, act = $("f-action").value, why = $("f-reason").value;
    var editedOnly = $("f-edited").checked;
    var ids = M.cols.image_id, given = M.cols.given_label;
    var rows = [], order = [];
    D.flagged.forEach(function (row, pos) {
      if (q && ids[row].toLowerCase().indexOf(q) < 0) { return; }
      if (cls && given[row] !== cls) { return; }
      if (act && actionOf(row) !== act) { return; }
      if (why && reasonsOf(row).indexOf(why) < 0) { return; }
      if (editedOnly && !edits.has(row)) { return; }
      rows.push(row);
      order.push(pos);
    });
    var sort = $("f-sort").value;
    var pos = order.map(function (p, i) { return [p, rows[i]]; });
    if (sort === "best") { pos.reverse(); }
    if (sort === "id") {
      pos.sort(function (a, b) { return ids[a[1]] < ids[b[1]] ? -1 : ids[a[1]] > ids[b[1]] ? 1 : 0; });
    }
    gallery.rows = pos;
    gallery.page = 0;
    gallery.size = Number($("f-size").value) || 48;
    drawGallery(false);
  }
  function drawGallery(scroll) {
    var box = $("cards");
    drawPager(["gallery-pager-top", "gallery-pager"], gallery, gallery.rows.length, drawGallery);
    var start = gallery.page * gallery.size;
    var frag = document.createDocumentFragment();
    gallery.rows.slice(start, start + gallery.size).forEach(function (p) {
      frag.appendChild(card(p[1], p[0]));
    });
    box.replaceChildren(frag);
    if (!gallery.rows.length) {
      box.appendChild(el("p", "empty", D.flagged.length ? "No flagged image matches these filters."
        : "Nothing was flagged."));
    }
    if (scroll) { $("gallery").scrollIntoView(); }
  }
  function thumbButton(thumb, id, open) {
    var button = el("button", "thumb");
    button.type = "button";
    button.title = "Enlarge";
    if (thumb) {
      var img = el("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.alt = id;
      img.src = thumbUrl(thumb);
      button.appendChild(img);
    } else {
      button.appendChild(el("span", "nothumb", "no preview"));
    }
    button.addEventListener("click", open);
    return button;
  }
  function card(row, pos) {
    var id = M.cols.image_id[row];
    var node = el("article", "card");
    node.dataset.row = String(row);
    node.appendChild(thumbButton(D.thumbs[pos], id, function () { openImage(row, pos); }));
    var body = el("div", "card-body");
    body.appendChild(el("div", "card-id", id)).title = id;
    var given = M.cols.given_label[row], suggested = M.cols.suggested_label[row];
    var labels = el("div", "card-labels" + (suggested !== given ? " changed" : ""));
    labels.appendChild(el("span", "given", labelText(given))).title = "given label";
    if (suggested !== given) {
      labels.appendChild(el("span", "arrow", "\u2192"));
      labels.appendChild(el("span", "suggested", labelText(suggested))).title = "suggested label";
    }
    body.appendChild(labels);
    body.appendChild(qualityLine(M.cols.label_quality[row]));
    if (D.top3) { body.appendChild(topList(D.top3[pos])); }
    var chips = el("div", "chips");
    reasonsOf(row).forEach(function (r) { chips.appendChild(el("span", "chip", r)); });
    body.appendChild(chips);
    body.appendChild(decisionControls(row, node));
    node.appendChild(body);
    markCard(node, row);
    return node;
  }
  function qualityLine(text) {
    var line = el("div", "quality");
    var q = parseFloat(text);
    line.appendChild(el("span", "muted", "label quality "));
    var meter = el("meter");
    meter.min = 0; meter.max = 1; meter.low = 0.2; meter.high = 0.5; meter.optimum = 1;
    meter.value = isNaN(q) ? 0 : q;
    line.appendChild(meter);
    line.appendChild(el("b", null, isNaN(q) ? "n/a" : q.toFixed(3)));
    return line;
  }
  function topList(top) {
    var list = el("ol", "top3");
    for (var i = 0; top && i < top.length; i += 2) {
      var item = el("li");
      item.appendChild(el("span", "top-label", labelText(top[i])));
      var bar = el("span", "top-bar");
      var fill = el("span", "top-fill");
      fill.style.width = Math.round(Math.max(0, Math.min(1, top[i + 1])) * 100) + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      item.appendChild(el("span", "top-p", Number(top[i + 1]).toFixed(2)));
      list.appendChild(item);
    }
    return list;
  }
  function decisionControls(row, node) {
    var box = el("div", "decide");
    var action = el("select", "sel-action");
    action.setAttribute("aria-label", "decision");
    fillSelect(action, ACTIONS.map(function (a) { return [a, a]; }));
    action.value = actionOf(row);
    var label = el("select", "sel-label");
    label.setAttribute("aria-label", "label");
    fillSelect(label, D.classes.map(function (c) { return [c[0], labelText(c[0])]; }));
    label.value = labelOf(row);
    action.addEventListener("change", function () {
      setDecision(row, action.value, label.value);
      markCard(node, row);
    });
    label.addEventListener("change", function () {
      var given = M.cols.given_label[row];
      var next = label.value !== given ? "relabel"
        : (action.value === "relabel" ? "keep" : action.value);
      action.value = next;
      setDecision(row, next, label.value);
      markCard(node, row);
    });
    box.appendChild(action);
    box.appendChild(label);
    return box;
  }
  function markCard(node, row) {
    node.classList.toggle("edited", edits.has(row));
    ACTIONS.forEach(function (a) { node.classList.toggle("act-" + a, actionOf(row) === a); });
  }

  // -- the enlarged image ------------------------------------------------------------------
  function openLightbox(title, path, thumb, lines) {
    var img = $("lb-img");
    img.onerror = function () { img.onerror = null; if (thumb) { img.src = thumbUrl(thumb); } };
    img.src = path ? D.images_base + encodePath(path) : thumbUrl(thumb);
    img.alt = title;
    $("lb-title").textContent = title;
    var details = $("lb-details");
    details.replaceChildren();
    lines.forEach(function (l) {
      var p = el("p");
      p.appendChild(el("span", "muted", l[0] + ": "));
      p.appendChild(el("span", null, l[1]));
      details.appendChild(p);
    });
    $("lightbox").hidden = false;
    $("lb-close").focus();
  }
  function openImage(row, pos) {
    openLightbox(M.cols.image_id[row], M.cols.path[row], D.thumbs[pos], [
      ["path", M.cols.path[row]],
      ["given label", labelText(M.cols.given_label[row])],
      ["suggested label", labelText(labelOf(row))],
      ["decision", actionOf(row)],
      ["label quality", M.cols.label_quality[row]],
      ["reasons", reasonsOf(row).join(", ") || "none"],
    ]);
  }
  function closeLightbox() {
    $("lightbox").hidden = true;
    $("lb-img").removeAttribute("src");
  }

  // -- duplicates and unreadable files -------------------------------------------------------
  function drawGroups(scroll) {
    var box = $("groups");
    drawPager(["dup-pager-top", "dup-pager"], dups, dups.rows.length, drawGroups);
    var frag = document.createDocumentFragment();
    var start = dups.page * dups.size;
    dups.rows.slice(start, start + dups.size).forEach(function (g) { frag.appendChild(group(g)); });
    box.replaceChildren(frag);
    if (!D.groups.length) { box.appendChild(el("p", "empty", "No duplicate groups.")); }
    if (scroll) { $("duplicates").scrollIntoView(); }
  }
  function group(g) {
    var node = el("div", "group" + (g.conflict ? " conflict" : ""));
    var head = el("div", "group-head");
    head.appendChild(el("b", null, "group " + g.id));
    head.appendChild(el("span", "muted", g.members.length + " images" + (g.method ? " \u00b7 " + g.method : "")));
    if (g.conflict) { head.appendChild(el("span", "badge-conflict", "label conflict")); }
    node.appendChild(head);
    var kept = g.members.filter(function (m) { return m[2]; })[0] || g.members[0];
    var row = el("div", "members");
    g.members.forEach(function (m) {
      var item = el("div", "member" + (m[2] ? " kept" : ""));
      var lines = [["label", labelText(m[1])], ["kept", m[2] ? "yes" : "no"], ["score", m[3]],
                   ["path", m[5]]];
      item.appendChild(thumbButton(m[4], m[0], function () { openLightbox(m[0], m[5], m[4], lines); }));
      item.appendChild(el("div", "card-id", m[0])).title = m[0];
      var lab = item.appendChild(el("div", "member-label", labelText(m[1])));
      if (g.conflict && m[1] !== kept[1]) { lab.classList.add("differs"); }
      var meta = el("div", "member-meta");
      meta.appendChild(el("span", m[2] ? "tag tag-keep" : "tag tag-drop", m[2] ? "keep" : "copy"));
      meta.appendChild(el("span", "muted", "score " + m[3]));
      item.appendChild(meta);
      row.appendChild(item);
    });
    node.appendChild(row);
    return node;
  }
  function drawBad(scroll) {
    var body = $("bad-rows");
    drawPager(["bad-pager"], bad, D.unreadable.length, drawBad);
    var frag = document.createDocumentFragment();
    D.unreadable.slice(bad.page * bad.size, (bad.page + 1) * bad.size).forEach(function (r) {
      var tr = el("tr");
      r.forEach(function (v) { tr.appendChild(el("td", null, v)); });
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    if (!D.unreadable.length) {
      var tr = el("tr"), td = el("td", "empty", "Every file could be read.");
      td.colSpan = 3;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    if (scroll) { $("unreadable").scrollIntoView(); }
  }

  // -- start -------------------------------------------------------------------------------
  function start() {
    $("gallery-total").textContent = "(" + fmt(D.flagged.length) + ")";
    $("dup-total").textContent = "(" + fmt(D.groups.length) + ")";
    $("bad-total").textContent = "(" + fmt(D.unreadable.length) + ")";
    $("lb-close").addEventListener("click", closeLightbox);
    $("lightbox").addEventListener("click", function (e) {
      if (e.target === $("lightbox")) { closeLightbox(); }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !$("lightbox").hidden) { closeLightbox(); }
    });
    $("d-conflicts").addEventListener("change", function () {
      dups.rows = this.checked ? D.groups.filter(function (g) { return g.conflict; }) : D.groups;
      dups.page = 0;
      drawGroups(false);
    });
    drawGroups(false);
    drawBad(false);
    if (M) {
      $("export").addEventListener("click", exportCsv);
      $("reset-edits").addEventListener("click", function () {
        if (!window.confirm("Forget all " + edits.size + " edits?")) { return; }
        edits.clear();
        saveEdits();
        drawGallery(false);
      });
      setupFilters();
      saveEdits();
      applyFilters();
    }
    window.requestAnimationFrame(function () {
      setTimeout(function () {
        window.LABELCLEAN_READY = { firstPaintMs: performance.now() };
        document.body.setAttribute("data-ready", "1");
      }, 0);
    });
  }
  start();
})();
