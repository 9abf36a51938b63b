/* The demo page: the lead form's answer, and the bulk panel (upload, poll
 * with a progress bar, counts per verdict, download). */
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  var state = document.getElementById("bulk-state");
  var bar = document.getElementById("bulk-progress");
  var link = document.getElementById("bulk-download");
  var panel = document.getElementById("bulk-job");
  var sent = document.getElementById("sent");
  var objectURL = "";
  var STATUS = { queued: "Queued", running: "Running", completed: "Completed", failed: "Failed", canceled: "Canceled" };

  document.getElementById("lead-form").addEventListener("submit", function (ev) {
    // The widget holds back a submit with an invalid field (and has put the
    // focus on it); a demo has nowhere to send the lead.
    if (ev.defaultPrevented) {
      sent.textContent = "Please fix the highlighted field first.";
      sent.className = "error";
      return;
    }
    ev.preventDefault();
    sent.textContent = "Lead accepted.";
    sent.className = "";
  });

  // The widget on the lead form reports a refused check (401, 403, 429)
  // with the server's message; the demo shows it, where a real form would
  // show only the widget's neutral note.
  var note = document.getElementById("lead-note");
  document.getElementById("lead-form").addEventListener("leadcheck:error", function (ev) {
    var d = ev.detail || {};
    var hint = d.status === 401 ? " Enter an API key below (a publishable key for this page's origin)." : "";
    note.textContent = "The server refused the check (" + d.status + (d.code ? " " + d.code : "") + "): " +
      (d.message || "no message").replace(/\.$/, "") + "." + hint;
    note.className = "error";
  });
  document.getElementById("lead-form").addEventListener("leadcheck:result", function () {
    note.textContent = "";
    note.className = "";
  });
  document.getElementById("bulk-key").addEventListener("input", function () {
    if (window.leadcheck && window.leadcheck.setKey) window.leadcheck.setKey(apiKey());
  });

  function apiKey() {
    return document.getElementById("bulk-key").value.trim();
  }

  function headers() {
    var key = apiKey();
    return key ? { "X-API-Key": key } : {};
  }

  function fail(text) {
    state.textContent = text;
    state.className = "error";
  }

  function render(job) {
    var total = job.total_rows || 0;
    var done = job.processed_rows || 0;
    var pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    if (job.status === "completed") pct = 100;
    bar.value = pct;
    bar.textContent = pct + "%";
    bar.setAttribute("aria-valuetext", pct + " %");
    state.textContent = (STATUS[job.status] || job.status) + " — " + done + " of " + (total || "?") + " rows (" + pct + " %)";
    var counts = job.counts || {};
    ["valid", "risky", "unknown", "invalid"].forEach(function (v) {
      document.getElementById("count-" + v).textContent = counts[v] || 0;
    });
    // Advice (such as "set default_country") says what a new upload
    // should change; the country selector is where to do it here.
    var advice = document.getElementById("bulk-advice");
    var notes = (job.advice || []).map(function (a) {
      return a.code === "set_default_country"
        ? (counts.country_needed === 1
          ? "1 phone number had no country to read it in; choose its country above and upload again."
          : counts.country_needed + " phone numbers had no country to read them in; choose their country above and upload again.")
        : a.message;
    });
    advice.textContent = notes.join(" ");
    advice.hidden = notes.length === 0;
  }

  // offerDownload shows the link to the results. A link cannot send the
  // API key header, so with a key the file is fetched here first.
  function offerDownload(url, id) {
    link.download = "leadcheck-" + id + ".csv";
    if (objectURL) URL.revokeObjectURL(objectURL);
    objectURL = "";
    if (!apiKey()) {
      link.href = url;
      link.hidden = false;
      return;
    }
    fetch(url, { headers: headers() })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.blob();
      })
      .then(function (blob) {
        objectURL = URL.createObjectURL(blob);
        link.href = objectURL;
        link.hidden = false;
      })
      .catch(function (err) { fail("Could not download the results: " + err.message); });
  }

  function poll(url) {
    fetch(url, { headers: headers() }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error ? body.error.message : "status " + r.status);
        return body;
      });
    }).then(function (job) {
      render(job);
      if (job.status === "queued" || job.status === "running") {
        setTimeout(function () { poll(url); }, 400);
        return;
      }
      if (job.status === "completed") {
        offerDownload(job.results_url || url + "/results?format=csv", job.id);
      } else {
        fail((STATUS[job.status] || job.status) + (job.error ? ": " + job.error : "."));
      }
    }).catch(function (err) {
      fail("Could not read the job: " + err.message);
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("bulk-file").files[0];
    if (!file) return;
    var data = new FormData();
    var country = document.getElementById("bulk-country").value;
    if (country) data.append("default_country", country);
    data.append("file", file);
    panel.hidden = false;
    link.hidden = true;
    state.className = "";
    state.textContent = "Uploading…";
    bar.value = 0;
    bar.textContent = "0%";
    fetch("/v1/bulk", { method: "POST", body: data, headers: headers() })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error ? body.error.message : "status " + r.status);
          return { job: body, location: r.headers.get("Location") || "/v1/bulk/" + body.id };
        });
      })
      .then(function (res) { render(res.job); poll(res.location); })
      .catch(function (err) { fail("Upload failed: " + err.message); });
  });
})();
