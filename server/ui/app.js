// neardup reviewer page. Plain DOM, no dependencies. Every value from the server or a file name goes into
// the page as text (textContent, attributes), never as markup. The token lives in this page's memory only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    results: [],          // {id, name, objectUrl, width, height, matches: [...], error}
    sort: { column: null, ascending: true },
    refs: new Map(),      // key -> metadata (width, height, labels), fetched once
    thumbs: new Map(),    // key -> object URL of the thumbnail
    pages: [""],          // cursors of the pages seen: "after" values
    page: 0,
    nextCursor: null,
    metrics: null,        // {time, requests, seconds, count} of the previous poll
    nextId: 1,
  };

  // ---- helpers --------------------------------------------------------------------------------------
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function showMessage(text) {
    const m = $("message");
    m.textContent = text;
    m.hidden = !text;
  }

  function headers(extra = {}) {
    const h = { ...extra };
    const token = $("token").value.trim();
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  // JSON from the API, or an Error carrying the API's message.
  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: headers(options.headers || {}), credentials: "same-origin" });
    const type = response.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await response.json() : null;
    if (!response.ok) {
      const why = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
      throw new Error(why);
    }
    return body;
  }

  function labelParams(text) {
    const params = new URLSearchParams();
    for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) params.append("label", part);
    return params;
  }

  function labelsText(labels) {
    return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  }

  function threshold() {
    return Number($("threshold").value);
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // ---- reference metadata and thumbnails -------------------------------------------------------------
  async function reference(key) {
    if (!state.refs.has(key)) state.refs.set(key, api("/v1/images/" + encodeURIComponent(key)));
    return state.refs.get(key);
  }

  async function thumbnail(key) {
    if (!state.thumbs.has(key)) {
      state.thumbs.set(key, (async () => {
        const response = await fetch("/v1/images/" + encodeURIComponent(key) + "/thumbnail", { headers: headers() });
        if (!response.ok) return null;
        return URL.createObjectURL(await response.blob());
      })());
    }
    return state.thumbs.get(key);
  }

  // An image with a rectangle over it; the rectangle is in pixels of an image of size (width, height).
  function figure(src, region, width, height, alt) {
    const img = el("img", { alt, src });
    const wrap = el("div", { class: "figure" }, [img]);
    if (region && region.width > 0 && region.height > 0 && width > 0 && height > 0) {
      const box = el("div", { class: "box", "data-testid": "region" });
      box.style.left = (100 * region.x / width).toFixed(2) + "%";
      box.style.top = (100 * region.y / height).toFixed(2) + "%";
      box.style.width = (100 * region.width / width).toFixed(2) + "%";
      box.style.height = (100 * region.height / height).toFixed(2) + "%";
      wrap.append(box);
    }
    return wrap;
  }

  // ---- search -----------------------------------------------------------------------------------------
  function imageSize(url) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
      img.onerror = () => resolve({ width: 0, height: 0 });
      img.src = url;
    });
  }

  async function searchFiles(files) {
    showMessage("");
    const label = $("search-label").value;
    for (const file of files) {
      const result = { id: state.nextId++, name: file.name || "pasted image", objectUrl: URL.createObjectURL(file), matches: [], error: null };
      Object.assign(result, await imageSize(result.objectUrl));
      state.results.push(result);
      try {
        const params = labelParams(label);
        params.set("top", "5");
        const body = await api("/v1/search?" + params.toString(), {
          method: "POST",
          headers: { "Content-Type": file.type || "application/octet-stream" },
          body: file,
        });
        result.matches = body.matches;
        result.took = body.took_ms;
      } catch (e) {
        result.error = e.message;
      }
      renderResults();
    }
  }

  function best(result) {
    return result.matches.length ? result.matches[0] : null;
  }

  function decided(match) {
    return match !== null && match.score >= threshold();
  }

  function row(result) {
    const b = best(result);
    return {
      query: result.name,
      key: b ? b.key : "",
      score: b ? b.score : 0,
      decision: result.error ? "error" : decided(b) ? "match" : "no match",
      inliers: b ? b.inliers : 0,
      pdq: b ? b.pdq_distance : 256,
      labels: b ? b.labels : {},
      error: result.error || "",
    };
  }

  function renderTable() {
    const table = $("batch");
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    let rows = state.results.map(row);
    const { column, ascending } = state.sort;
    if (column) {
      rows = rows.slice().sort((a, b) => {
        const x = a[column], y = b[column];
        const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
    }
    for (const r of rows) {
      tbody.append(el("tr", {}, [
        el("td", { text: r.query }), el("td", { text: r.key }), el("td", { text: r.score.toFixed(4) }),
        el("td", { class: "decision " + (r.decision === "match" ? "match" : "nomatch"), text: r.decision }),
        el("td", { text: String(r.inliers) }), el("td", { text: String(r.pdq) }),
      ]));
    }
    for (const th of table.querySelectorAll("th")) {
      th.classList.toggle("sorted-asc", th.dataset.sort === column && ascending);
      th.classList.toggle("sorted-desc", th.dataset.sort === column && !ascending);
    }
    table.hidden = state.results.length === 0;
    for (const id of ["export-csv", "export-jsonl", "clear"]) $(id).disabled = state.results.length === 0;
  }

  async function renderCard(result) {
    const card = el("article", { class: "card", "data-query": result.name });
    card.append(el("h2", { text: result.name }));
    if (result.error) {
      card.append(el("p", { class: "decision nomatch", text: "error: " + result.error }));
      return card;
    }
    const b = best(result);
    const queryFigure = figure(result.objectUrl, b ? b.query_region : null, result.width, result.height, "query " + result.name);
    const left = el("div", {}, [queryFigure, el("div", { class: "caption", text: `query, ${result.width}×${result.height}` })]);
    const right = el("div");
    if (b && !b.hash_only) {
      const [meta, thumb] = await Promise.all([reference(b.key).catch(() => null), thumbnail(b.key)]);
      if (meta && thumb) right.append(figure(thumb, b.region, meta.width, meta.height, "reference " + b.key));
      right.append(el("div", { class: "caption", text: `reference ${b.key}` + (meta ? `, ${meta.width}×${meta.height}` : "") }));
    } else if (b) {
      right.append(el("div", { class: "caption", text: `reference ${b.key}: a PDQ hash from a partner's list (no image)` }));
    } else {
      right.append(el("div", { class: "caption", text: "no candidate" }));
    }
    card.append(el("div", { class: "pair" }, [left, right]));
    const hits = el("table", { class: "hits" }, [el("tr", {}, ["Reference", "Score", "Decision", "Inliers", "PDQ", "Labels"].map((t) => el("th", { text: t })))]);
    result.matches.forEach((m, i) => {
      hits.append(el("tr", { class: i === 0 ? "best" : "" }, [
        el("td", { text: m.key }), el("td", { text: m.score.toFixed(4) }),
        el("td", { class: "decision " + (decided(m) ? "match" : "nomatch"), "data-score": String(m.score), text: decided(m) ? "match" : "no match" }),
        el("td", { text: String(m.inliers) }), el("td", { text: String(m.pdq_distance) }), el("td", { class: "labels", text: labelsText(m.labels) }),
      ]));
    });
    card.append(hits);
    if (result.took !== undefined) card.append(el("div", { class: "caption", text: `searched in ${result.took} ms` }));
    return card;
  }

  async function renderResults() {
    renderTable();
    const cards = await Promise.all(state.results.map(renderCard));
    $("cards").replaceChildren(...cards);
  }

  // The threshold re-decides what is on the page without asking the server again.
  function redecide() {
    $("threshold-value").textContent = threshold().toFixed(2);
    for (const cell of document.querySelectorAll("#cards td.decision")) {
      const match = Number(cell.dataset.score) >= threshold();
      cell.textContent = match ? "match" : "no match";
      cell.className = "decision " + (match ? "match" : "nomatch");
    }
    renderTable();
  }

  function csvField(value) {
    const s = String(value);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function exportCsv() {
    const lines = ["query,key,score,decision,inliers,pdq_distance,labels,error"];
    for (const r of state.results.map(row))
      lines.push([r.query, r.key, r.score, r.decision, r.inliers, r.pdq, labelsText(r.labels), r.error].map(csvField).join(","));
    download("neardup-results.csv", lines.join("\r\n") + "\r\n", "text/csv");
  }

  function exportJsonLines() {
    const lines = state.results.map((r) => JSON.stringify({ query: r.name, threshold: threshold(), matches: r.matches, error: r.error || undefined }));
    download("neardup-results.jsonl", lines.join("\n") + "\n", "application/x-ndjson");
  }

  // ---- references -------------------------------------------------------------------------------------
  async function listReferences(page) {
    showMessage("");
    state.page = page;
    const params = labelParams($("browse-label").value);
    const prefix = $("browse-prefix").value;
    if (prefix) params.set("prefix", prefix);
    if (state.pages[page]) params.set("after", state.pages[page]);
    params.set("limit", "24");
    let body;
    try {
      body = await api("/v1/images?" + params.toString());
    } catch (e) {
      showMessage("listing failed: " + e.message);
      return;
    }
    state.nextCursor = body.next;
    state.pages[page + 1] = body.next;
    $("prev").disabled = page === 0;
    $("next").disabled = !body.next;
    const items = await Promise.all(body.images.map(async (image) => {
      const thumb = image.hash_only ? null : await thumbnail(image.key);
      const remove = el("button", { type: "button", class: "danger", "data-key": image.key, text: "Delete" });
      remove.addEventListener("click", () => deleteReference(image.key));
      return el("div", { class: "ref", "data-key": image.key }, [
        thumb ? el("img", { src: thumb, alt: image.key }) : el("div", { class: "caption", text: image.hash_only ? "hash only (no image)" : "no thumbnail" }),
        el("div", { class: "key", text: image.key }),
        el("div", { class: "labels", text: labelsText(image.labels) }),
        el("div", { class: "caption", text: image.hash_only ? "PDQ hash" : `${image.width}×${image.height}, added ${image.added_at}` }),
        remove,
      ]);
    }));
    $("list").replaceChildren(...items);
    if (!items.length) $("list").append(el("p", { text: "no references" }));
  }

  async function deleteReference(key) {
    if (!$("token").value.trim()) {
      showMessage("enter the token to delete references");
      return;
    }
    if (!window.confirm(`Delete the reference "${key}"? It leaves search at once.`)) return;
    try {
      await api("/v1/images/" + encodeURIComponent(key), { method: "DELETE" });
      state.refs.delete(key);
      state.thumbs.delete(key);
      await listReferences(state.page);
    } catch (e) {
      showMessage("delete failed: " + e.message);
    }
  }

  async function addReference(event) {
    event.preventDefault();
    const key = $("add-key").value.trim();
    const file = $("add-file").files[0];
    if (!$("token").value.trim()) {
      showMessage("enter the token to add references");
      return;
    }
    if (!key || !file) return;
    const params = new URLSearchParams();
    for (const part of $("add-labels").value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const eq = part.indexOf("=");
      if (eq <= 0) {
        showMessage(`label "${part}" is not name=value`);
        return;
      }
      params.append("label", part.slice(0, eq) + ":" + part.slice(eq + 1));
    }
    try {
      await api("/v1/images/" + encodeURIComponent(key) + "?" + params.toString(), {
        method: "PUT",
        headers: { "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      $("add").reset();
      state.pages = [""];
      await listReferences(0);
    } catch (e) {
      showMessage("add failed: " + e.message);
    }
  }

  // ---- status strip -----------------------------------------------------------------------------------
  function metricSums(text) {
    let requests = 0, seconds = 0, count = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("neardup_http_requests_total{")) requests += Number(line.split(" ").pop());
      else if (line.startsWith("neardup_http_request_duration_seconds_sum{")) seconds += Number(line.split(" ").pop());
      else if (line.startsWith("neardup_http_request_duration_seconds_count{")) count += Number(line.split(" ").pop());
    }
    return { requests, seconds, count };
  }

  async function pollStatus() {
    try {
      const ready = await fetch("/readyz");
      $("status-ready").textContent = ready.ok ? "ready" : "loading";
      $("status-ready").className = ready.ok ? "ok" : "bad";
      if (ready.ok) {
        const stats = await api("/v1/stats");
        $("status-size").textContent = `${stats.index.active} references`;
      }
      const text = await (await fetch("/metrics")).text();
      const now = { time: performance.now(), ...metricSums(text) };
      if (state.metrics) {
        const dt = (now.time - state.metrics.time) / 1000;
        const dn = now.count - state.metrics.count;
        $("status-rate").textContent = `${((now.requests - state.metrics.requests) / dt).toFixed(1)} requests/s`;
        $("status-latency").textContent = dn > 0 ? `${(1000 * (now.seconds - state.metrics.seconds) / dn).toFixed(1)} ms mean latency` : "idle";
      }
      state.metrics = now;
    } catch (e) {
      $("status-ready").textContent = "unreachable";
      $("status-ready").className = "bad";
    }
  }

  // ---- wiring -----------------------------------------------------------------------------------------
  function showTab(name) {
    for (const section of ["search", "references"]) {
      $(section).hidden = section !== name;
      $("tab-" + section).classList.toggle("active", section === name);
    }
    if (name === "references") listReferences(0);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-search").addEventListener("click", () => showTab("search"));
    $("tab-references").addEventListener("click", () => showTab("references"));
    $("files").addEventListener("change", (e) => {
      searchFiles([...e.target.files]);
      e.target.value = "";
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      searchFiles([...e.dataTransfer.files].filter((f) => f.type.startsWith("image/")));
    });
    document.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData ? e.clipboardData.files : [])].filter((f) => f.type.startsWith("image/"));
      if (files.length) searchFiles(files);
    });
    $("threshold").addEventListener("input", redecide);
    $("export-csv").addEventListener("click", exportCsv);
    $("export-jsonl").addEventListener("click", exportJsonLines);
    $("clear").addEventListener("click", () => {
      for (const r of state.results) URL.revokeObjectURL(r.objectUrl);
      state.results = [];
      renderResults();
    });
    for (const th of document.querySelectorAll("#batch th")) {
      th.addEventListener("click", () => {
        const column = th.dataset.sort;
        state.sort = { column, ascending: state.sort.column === column ? !state.sort.ascending : true };
        renderTable();
      });
    }
    $("browse").addEventListener("submit", (e) => {
      e.preventDefault();
      state.pages = [""];
      listReferences(0);
    });
    $("prev").addEventListener("click", () => listReferences(Math.max(0, state.page - 1)));
    $("next").addEventListener("click", () => listReferences(state.page + 1));
    $("add").addEventListener("submit", addReference);
    pollStatus();
    setInterval(pollStatus, 5000);
  });
})();
