/*
 * leadcheck on-blur widget. One tag, no dependencies:
 *
 *   <script src="https://leadcheck.example.com/widget.js" data-key="PUBLISHABLE_KEY"
 *           data-country="US" defer></script>
 *   <input type="email" name="email" data-leadcheck="email">
 *   <input type="tel" name="phone" data-leadcheck="phone">
 *
 * On blur (debounced) each marked input is validated against the server the
 * script came from; the verdict shows in a live region under the field, a
 * "Did you mean …?" button fixes a typo in one click, and a valid phone is
 * rewritten in E.164 form (data-phone-format="keep" leaves it as typed). A
 * newer value cancels the request for an older one. Submit is held back only
 * for a definite "invalid" verdict — never for "unknown", never when the
 * service cannot be reached.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, document.baseURI).origin;
  var key = script.getAttribute("data-key") || "";
  var defaultCountry = script.getAttribute("data-country") || "";
  var phoneFormat = script.getAttribute("data-phone-format") || "e164";
  var debounceMs = parseInt(script.getAttribute("data-debounce") || "250", 10);
  var seq = 0;

  var MESSAGES = {
    valid: "Looks good.",
    risky: "This address works but may not reach a person.",
    unknown: "",
    invalid: "This does not look right."
  };

  function ensureStatus(input) {
    var id = input.getAttribute("data-leadcheck-status");
    var el = id && document.getElementById(id);
    if (el) return el;
    el = document.createElement("div");
    el.id = "leadcheck-status-" + (++seq);
    el.className = "leadcheck-status";
    el.setAttribute("role", "status");
    el.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", el);
    input.setAttribute("data-leadcheck-status", el.id);
    var described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", described ? described + " " + el.id : el.id);
    return el;
  }

  function countryFor(input) {
    var form = input.form;
    var sel = form && form.querySelector("[data-leadcheck=country]");
    return (sel && sel.value) || input.getAttribute("data-country") || defaultCountry;
  }

  function show(input, state, text, suggestion) {
    var el = ensureStatus(input);
    el.textContent = "";
    el.setAttribute("data-verdict", state);
    input.setAttribute("data-leadcheck-verdict", state);
    if (state === "invalid") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (text) el.appendChild(document.createTextNode(text + (suggestion ? " " : "")));
    if (suggestion) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "leadcheck-suggestion";
      button.textContent = "Did you mean " + suggestion + "?";
      button.addEventListener("click", function () {
        input.value = suggestion;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
        input.focus();
        check(input, 0);
      });
      el.appendChild(button);
    }
  }

  function describe(kind, field) {
    if (!field) return "";
    if (field.verdict === "valid") return MESSAGES.valid;
    return field.message || MESSAGES[field.verdict] || "";
  }

  function check(input, delay) {
    var kind = input.getAttribute("data-leadcheck");
    var value = input.value.trim();
    if (input._leadcheckTimer) clearTimeout(input._leadcheckTimer);
    if (input._leadcheckAbort) input._leadcheckAbort.abort();
    if (!value) {
      show(input, "", "");
      return;
    }
    input._leadcheckTimer = setTimeout(function () {
      var ctrl = new AbortController();
      input._leadcheckAbort = ctrl;
      var params = new URLSearchParams();
      params.set(kind, value);
      if (kind === "phone" && countryFor(input)) params.set("country", countryFor(input));
      var headers = { Accept: "application/json" };
      if (key) headers["X-API-Key"] = key;
      input.setAttribute("aria-busy", "true");
      fetch(base + "/v1/validate?" + params.toString(), { headers: headers, signal: ctrl.signal })
        .then(function (resp) {
          if (!resp.ok) throw new Error("status " + resp.status);
          return resp.json();
        })
        .then(function (body) {
          if (input.value.trim() !== value) return; // a newer value is on its way
          var field = body[kind];
          var state = field ? field.verdict : "unknown";
          var suggestion = field && field.did_you_mean;
          if (kind === "phone" && field && field.valid && phoneFormat === "e164" && field.e164) {
            input.value = field.e164;
          }
          show(input, state, describe(kind, field), suggestion);
          input.dispatchEvent(new CustomEvent("leadcheck:result", { bubbles: true, detail: body }));
        })
        .catch(function (err) {
          if (err && err.name === "AbortError") return;
          // The service could not answer: say nothing alarming, block nothing.
          show(input, "unknown", "");
        })
        .finally(function () {
          if (input._leadcheckAbort === ctrl) input.removeAttribute("aria-busy");
        });
    }, delay);
  }

  function attach(input) {
    if (input._leadcheckAttached) return;
    input._leadcheckAttached = true;
    ensureStatus(input);
    input.addEventListener("blur", function () { check(input, debounceMs); });
    input.addEventListener("input", function () {
      // Typing again makes the old verdict stale; cancel its request.
      if (input._leadcheckAbort) input._leadcheckAbort.abort();
      if (input._leadcheckTimer) clearTimeout(input._leadcheckTimer);
    });
    var form = input.form;
    if (form && !form._leadcheckAttached) {
      form._leadcheckAttached = true;
      form.addEventListener("submit", function (ev) {
        var bad = form.querySelector("[data-leadcheck-verdict=invalid]");
        if (bad) {
          ev.preventDefault();
          bad.focus();
        }
      });
    }
  }

  function scan() {
    var inputs = document.querySelectorAll("input[data-leadcheck=email], input[data-leadcheck=phone]");
    for (var i = 0; i < inputs.length; i++) attach(inputs[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
  window.leadcheck = { scan: scan };
})();
