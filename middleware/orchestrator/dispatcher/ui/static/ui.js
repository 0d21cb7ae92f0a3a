// The dashboard's little script: the job form's parts and live schedule preview, and polling
// of fragments (nodes while they boot). Every POST carries the session's CSRF token.
(function () {
  "use strict";

  function csrfToken(form) {
    var field = (form || document).querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  // <select data-switch="x"> shows the elements whose data-when-x lists its value.
  function bindSwitch(select) {
    var name = select.getAttribute("data-switch");
    function apply() {
      document.querySelectorAll("[data-when-" + name + "]").forEach(function (el) {
        el.hidden = el.getAttribute("data-when-" + name).split(" ").indexOf(select.value) < 0;
      });
    }
    select.addEventListener("change", apply);
    apply();
  }

  function bindPreview(form) {
    var target = document.getElementById("preview");
    var timer = null, sent = 0;
    function refresh() {
      var mine = ++sent;
      fetch(form.getAttribute("data-preview"), {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: {"X-CSRF-Token": csrfToken(form)}
      }).then(function (answer) { return answer.text(); }).then(function (html) {
        if (mine === sent) { target.innerHTML = html; }     // an older answer never overwrites a newer one
      });
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 50); });
    refresh();
  }

  // An element with data-poll="url" is replaced by that URL's answer every second, until the
  // answer no longer asks to be polled.
  function poll(el) {
    setTimeout(function () {
      fetch(el.getAttribute("data-poll"), {credentials: "same-origin"}).then(function (answer) {
        if (!answer.ok) { throw new Error(answer.status); }
        return answer.text();
      }).then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var fresh = holder.firstElementChild;
        el.replaceWith(fresh);
        if (fresh.hasAttribute("data-poll")) { poll(fresh); }
      }).catch(function () { poll(el); });
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-switch]").forEach(bindSwitch);
    var form = document.getElementById("job-form");
    if (form) { bindPreview(form); }
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
