/* The demo page's bulk panel: upload, poll with a progress bar, download. */
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  var state = document.getElementById("bulk-state");
  var bar = document.getElementById("bulk-progress");
  var link = document.getElementById("bulk-download");
  var panel = document.getElementById("bulk-job");

  document.getElementById("lead-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    document.getElementById("sent").textContent = "Lead accepted.";
  });

  function headers() {
    var key = document.getElementById("bulk-key").value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  function render(job) {
    var total = job.total_rows || 0;
    var pct = total ? Math.floor((job.processed_rows / total) * 100) : 0;
    if (job.status === "completed") pct = 100;
    bar.value = pct;
    bar.textContent = pct + "%";
    state.textContent = job.status + " — " + job.processed_rows + " of " + (total || "?") + " rows (" + pct + " %)";
    ["valid", "risky", "unknown", "invalid"].forEach(function (v) {
      document.getElementById("count-" + v).textContent = job.counts[v];
    });
  }

  function poll(url) {
    fetch(url, { headers: headers() }).then(function (r) { return r.json(); }).then(function (job) {
      if (job.error && !job.status) throw new Error(job.error.message);
      render(job);
      if (job.status === "queued" || job.status === "running") {
        setTimeout(function () { poll(url); }, 400);
        return;
      }
      if (job.status === "completed") {
        link.href = url + "/results?format=csv";
        link.hidden = false;
      } else {
        state.textContent = job.status + (job.error ? ": " + job.error : "");
        state.className = "error";
      }
    }).catch(function (err) {
      state.textContent = "Could not read the job: " + err.message;
      state.className = "error";
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var data = new FormData();
    data.append("file", document.getElementById("bulk-file").files[0]);
    panel.hidden = false;
    link.hidden = true;
    state.className = "";
    state.textContent = "Uploading…";
    bar.value = 0;
    fetch("/v1/bulk", { method: "POST", body: data, headers: headers() })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error ? body.error.message : "status " + r.status);
          return { job: body, location: r.headers.get("Location") || "/v1/bulk/" + body.id };
        });
      })
      .then(function (res) { render(res.job); poll(res.location); })
      .catch(function (err) {
        state.textContent = "Upload failed: " + err.message;
        state.className = "error";
      });
  });
})();
