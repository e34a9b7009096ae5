// Push notifications on this device (the account page's section, templates/notifications/
// _push_settings.html). "Turn on" asks the browser's permission, registers the service worker
// (/sw.js), subscribes with the practice's key and posts the subscription (as form fields, with
// the CSRF token) to the server; the page then reloads to list the device. "Turn off" for this
// very device also ends the browser's subscription. Without JavaScript, or in a browser that
// cannot receive pushes, the section says so and the list of devices still works.
(function () {
  "use strict";
  var box = document.querySelector("[data-push]");
  var offForms = Array.prototype.slice.call(document.querySelectorAll("form[data-push-off]"));
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window &&
    window.isSecureContext;

  function say(text, failed) {
    var status = box && box.querySelector("[data-push-status]");
    if (!status) { return; }
    status.textContent = text;
    status.classList.toggle("failed", !!failed);
  }

  // The browser's current subscription, or null (never registers anything by itself).
  function currentSubscription() {
    if (!supported) { return Promise.resolve(null); }
    return navigator.serviceWorker.getRegistration("/").then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    }).catch(function () { return null; });
  }

  // The same short tag of the endpoint the server puts on each device (push_devices.endpoint_tag).
  function tagOf(subscription) {
    if (!subscription || !window.crypto || !window.crypto.subtle) { return Promise.resolve(""); }
    var bytes = new TextEncoder().encode(subscription.endpoint);
    return window.crypto.subtle.digest("SHA-256", bytes).then(function (digest) {
      return Array.prototype.map.call(new Uint8Array(digest), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("").slice(0, 16);
    });
  }

  function keyBytes(base64url) {
    var text = base64url.replace(/-/g, "+").replace(/_/g, "/");
    text += "====".slice(0, (4 - text.length % 4) % 4);
    var raw = window.atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function sameKey(subscription, key) {
    var given = subscription.options && subscription.options.applicationServerKey;
    if (!given) { return true; }  // the browser does not tell: try it as it is
    var a = new Uint8Array(given);
    return a.length === key.length && Array.prototype.every.call(a, function (b, i) { return b === key[i]; });
  }

  function askPermission() {
    if (Notification.permission === "granted") { return Promise.resolve("granted"); }
    return new Promise(function (resolve) {
      var asked = Notification.requestPermission(resolve);  // older Safari: a callback
      if (asked && asked.then) { asked.then(resolve); }
    });
  }

  function subscribe(key) {
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        if (existing && sameKey(existing, key)) { return existing; }
        // Made with the practice's former key: it cannot receive pushes any more.
        var gone = existing ? existing.unsubscribe() : Promise.resolve();
        return gone.then(function () {
          return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
        });
      });
    });
  }

  function send(subscription) {
    var json = subscription.toJSON();
    var body = new FormData();
    body.append("csrf_token", box.querySelector("input[name=csrf_token]").value);
    body.append("endpoint", json.endpoint || "");
    body.append("p256dh", (json.keys && json.keys.p256dh) || "");
    body.append("auth", (json.keys && json.keys.auth) || "");
    return fetch(box.getAttribute("data-push-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        return { ok: response.ok, json: answer };
      });
    });
  }

  function turnOn(button) {
    var key = keyBytes(box.getAttribute("data-push-key"));
    button.disabled = true;
    say("Turning notifications on…");
    askPermission().then(function (permission) {
      if (permission !== "granted") {
        say(permission === "denied"
          ? "Notifications are blocked for this site. Allow them in this browser's site settings, then try again."
          : "Notifications were not allowed. Press the button again to be asked once more.", true);
        return null;
      }
      return subscribe(key).then(send).then(function (result) {
        if (result.ok) {
          say(result.json.message || "Notifications are on for this device.");
          window.location.reload();  // the list of devices now holds this one
          return;
        }
        say(result.json.message || result.json.detail || "Notifications could not be turned on.", true);
      });
    }).catch(function () {
      say("This browser could not turn notifications on. Please try again later.", true);
    }).then(function () { button.disabled = false; });
  }

  // "Turn off" for this very device: the browser's subscription ends too, then the form goes.
  offForms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var item = form.closest("[data-push-device]");
      if (!item || !item.hasAttribute("data-this-device")) { return; }
      event.preventDefault();
      currentSubscription().then(function (subscription) {
        return subscription ? subscription.unsubscribe() : null;
      }).catch(function () { return null; }).then(function () { form.submit(); });
    });
  });

  currentSubscription().then(function (subscription) {
    return tagOf(subscription).then(function (tag) {
      var mine = null;
      if (tag) {
        Array.prototype.forEach.call(document.querySelectorAll("[data-push-device]"), function (item) {
          if (item.getAttribute("data-push-device") === tag) {
            mine = item;
            item.setAttribute("data-this-device", "");
            var label = item.querySelector("[data-push-this]");
            if (label) { label.hidden = false; }
          }
        });
      }
      return mine;
    });
  }).then(function (mine) {
    if (!box) { return; }
    box.hidden = false;
    var button = box.querySelector("[data-push-on]");
    if (!supported) {
      button.remove();  // (its class shows it whatever its hidden attribute says)
      say("This browser cannot receive push notifications here. On an iPhone or iPad, add Common " +
          "Ground to the Home Screen and open it from there first.", true);
      return;
    }
    if (mine) {
      button.remove();  // (its class shows it whatever its hidden attribute says)
      say("Notifications are on for this device.");
      return;
    }
    if (Notification.permission === "denied") {
      say("Notifications are blocked for this site. Allow them in this browser's site settings, then try again.", true);
    }
    button.addEventListener("click", function () { turnOn(button); });
  });
})();
