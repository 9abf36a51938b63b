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
 * "Did you mean …?" button fixes a typo in one click (or Enter), and a valid
 * phone is rewritten in E.164 form (data-phone-format="keep" leaves it as
 * typed). A newer value cancels the request for an older one, and a value
 * already checked is not sent again. A select marked data-leadcheck="country"
 * in the same form gives the phone's country; changing it checks the phone
 * again.
 *
 * Submit is held back only for a definite "invalid" verdict on the value the
 * field holds now: never for "unknown", never while a check is running, never
 * when the service cannot be reached, and never when it refuses the check
 * (401 or 403: a key missing, wrong or not for this site; 429: a rate limit
 * or quota), which shows a short neutral note under the field and fires a
 * "leadcheck:error" event with the status and the server's error. The widget calls preventDefault on such
 * a submit (in the capture phase, so it runs before the page's own submit
 * listeners); a page that submits with its own script should check
 * event.defaultPrevented.
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
  if (!(debounceMs >= 0)) debounceMs = 250;
  var seq = 0;

  // What a person sees for each verdict when the server sends no message.
  // "unknown" says nothing: the address may well be fine, and the person
  // can do nothing about a slow DNS server.
  var MESSAGES = {
    valid: "Looks good.",
    risky: "This works, but may not reach a person.",
    unknown: "",
    invalid: "This does not look right."
  };

  // What a person sees when the service refuses to check: nothing about
  // keys or limits, which are the site's business, and nothing that asks
  // them to change a value that may well be right.
  var REFUSED = {
    401: "We could not check this right now.",
    403: "We could not check this right now.",
    429: "We could not check this just now; you can still send the form."
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

  // requestKey identifies what a check asks, so the same question is not
  // sent twice in a row.
  function requestKey(input, value) {
    var kind = input.getAttribute("data-leadcheck");
    return kind + "\n" + (kind === "phone" ? countryFor(input) : "") + "\n" + value;
  }

  // sentence turns the API's message ("the domain does not exist; check the
  // spelling") into one a form can show.
  function sentence(text) {
    if (!text) return "";
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function show(input, state, text, suggestion) {
    var el = ensureStatus(input);
    // A person on the old suggestion button keeps their place.
    var hadFocus = el.contains(document.activeElement);
    el.textContent = "";
    if (state) {
      el.setAttribute("data-verdict", state);
      input.setAttribute("data-leadcheck-verdict", state);
    } else {
      el.removeAttribute("data-verdict");
      input.removeAttribute("data-leadcheck-verdict");
    }
    if (state === "invalid") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (text) el.appendChild(document.createTextNode(text + (suggestion ? " " : "")));
    var button = null;
    if (suggestion) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "leadcheck-suggestion";
      button.textContent = "Did you mean " + suggestion + "?";
      button.addEventListener("click", function () {
        input.value = suggestion;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
        // The button is about to be replaced: keep focus where the person
        // was working.
        input.focus();
        check(input, 0);
      });
      el.appendChild(button);
    }
    if (hadFocus) (button || input).focus();
  }

  function describe(field) {
    if (!field) return "";
    if (field.verdict === "valid") return MESSAGES.valid;
    if (field.verdict === "unknown") return MESSAGES.unknown;
    return sentence(field.message) || MESSAGES[field.verdict] || "";
  }

  // cancel stops a pending or running check of input.
  function cancel(input) {
    if (input._leadcheckTimer) clearTimeout(input._leadcheckTimer);
    input._leadcheckTimer = null;
    if (input._leadcheckAbort) input._leadcheckAbort.abort();
    input._leadcheckAbort = null;
  }

  function check(input, delay) {
    var kind = input.getAttribute("data-leadcheck");
    var value = input.value.trim();
    cancel(input);
    if (!value) {
      input._leadcheckDone = "";
      show(input, "", "");
      return;
    }
    var asked = requestKey(input, value);
    if (asked === input._leadcheckDone) return; // answered already and shown
    input._leadcheckTimer = setTimeout(function () {
      input._leadcheckTimer = null;
      var ctrl = new AbortController();
      input._leadcheckAbort = ctrl;
      var params = new URLSearchParams();
      params.set(kind, value);
      if (kind === "phone" && countryFor(input)) params.set("country", countryFor(input));
      var headers = { Accept: "application/json" };
      if (key) headers["X-API-Key"] = key;
      var status = ensureStatus(input);
      status.setAttribute("aria-busy", "true");
      fetch(base + "/v1/validate?" + params.toString(), { headers: headers, signal: ctrl.signal })
        .then(function (resp) {
          if (REFUSED[resp.status]) {
            return resp.json().catch(function () { return {}; }).then(function (body) {
              var err = new Error("status " + resp.status);
              err.refused = resp.status;
              err.body = body;
              throw err;
            });
          }
          if (!resp.ok) throw new Error("status " + resp.status);
          return resp.json();
        })
        .then(function (body) {
          if (ctrl.signal.aborted || input.value.trim() !== value) return; // a newer value is on its way
          var field = body[kind];
          var state = field ? field.verdict : "unknown";
          var suggestion = field && field.did_you_mean;
          if (kind === "phone" && field && field.valid && phoneFormat === "e164" && field.e164 && field.e164 !== value) {
            input.value = field.e164;
            input.dispatchEvent(new Event("change", { bubbles: true }));
            // The rewritten value is the same number: no need to ask again.
            input._leadcheckDone = requestKey(input, field.e164);
          } else if (state !== "unknown") {
            input._leadcheckDone = asked;
          }
          show(input, state, describe(field), suggestion);
          input.dispatchEvent(new CustomEvent("leadcheck:result", { bubbles: true, detail: body }));
        })
        .catch(function (err) {
          if (ctrl.signal.aborted) return;
          if (err && err.refused) {
            // Refused (key or limit): a neutral note, no block, and the
            // page may show the server's own message.
            show(input, "unknown", REFUSED[err.refused]);
            var e = (err.body && err.body.error) || {};
            input.dispatchEvent(new CustomEvent("leadcheck:error", {
              bubbles: true,
              detail: { status: err.refused, code: e.code || "", message: e.message || "" }
            }));
            return;
          }
          // The service could not answer: say nothing alarming, block
          // nothing, and let the next blur try again.
          show(input, "unknown", "");
        })
        .finally(function () {
          if (input._leadcheckAbort === ctrl) input._leadcheckAbort = null;
          // Busy only while some request of this field is still running.
          if (!input._leadcheckAbort) status.removeAttribute("aria-busy");
        });
    }, delay);
  }

  function attach(input) {
    if (input._leadcheckAttached) return;
    input._leadcheckAttached = true;
    ensureStatus(input);
    input.addEventListener("blur", function () { check(input, debounceMs); });
    input.addEventListener("input", function () {
      // Typing again makes the old verdict stale: cancel its request and
      // clear it, so it can neither show up late nor block submit.
      cancel(input);
      input._leadcheckDone = "";
      if (input.hasAttribute("data-leadcheck-verdict")) show(input, "", "");
    });
    var form = input.form;
    if (!form) return;
    if (input.getAttribute("data-leadcheck") === "phone") {
      var sel = form.querySelector("[data-leadcheck=country]");
      if (sel) {
        sel.addEventListener("change", function () {
          if (input.value.trim()) check(input, 0);
        });
      }
    }
    if (!form._leadcheckAttached) {
      form._leadcheckAttached = true;
      form.addEventListener("submit", function (ev) {
        var bad = form.querySelector("[data-leadcheck-verdict=invalid]");
        if (bad) {
          ev.preventDefault();
          bad.focus();
        }
      }, true);
    }
  }

  function scan() {
    var inputs = document.querySelectorAll("input[data-leadcheck=email], input[data-leadcheck=phone]");
    for (var i = 0; i < inputs.length; i++) attach(inputs[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
  // setKey changes the key the widget sends (the demo page takes it from
  // a field); fields checked with the old key are checked again on blur.
  function setKey(k) {
    key = k || "";
    var inputs = document.querySelectorAll("input[data-leadcheck=email], input[data-leadcheck=phone]");
    for (var i = 0; i < inputs.length; i++) inputs[i]._leadcheckDone = "";
  }

  window.leadcheck = { scan: scan, setKey: setKey };
})();
