// The service worker (served at /sw.js, scope "/"): shows a push as a notification and, when it
// is clicked, opens the page it points to, only ever a page of this site. It caches nothing and
// answers no request (no "fetch" handler): every page still comes from the server, signed in.
"use strict";

var FALLBACK = {
  title: "Common Ground",
  body: "You have something new in Common Ground",
  url: "/notifications"
};

// A path of this site, or the notifications page: a push never leads anywhere else.
function sameOriginPath(url) {
  if (typeof url !== "string" || url.charAt(0) !== "/" || url.charAt(1) === "/" || url.indexOf("\\") !== -1) {
    return FALLBACK.url;
  }
  var parsed;
  try { parsed = new URL(url, self.location.origin); } catch (error) { return FALLBACK.url; }
  if (parsed.origin !== self.location.origin) { return FALLBACK.url; }
  return parsed.pathname + parsed.search + parsed.hash;
}

function text(value, fallback) {
  return typeof value === "string" && value.length > 0 && value.length <= 200 ? value : fallback;
}

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {}; }
  if (!data || typeof data !== "object") { data = {}; }
  // A notification is always shown (userVisibleOnly), with the fallback words if need be.
  event.waitUntil(self.registration.showNotification(text(data.title, FALLBACK.title), {
    body: text(data.body, FALLBACK.body),
    data: { url: sameOriginPath(data.url) },
    tag: "common-ground"
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = new URL(sameOriginPath(event.notification.data && event.notification.data.url),
                       self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === target && "focus" in windows[i]) { return windows[i].focus(); }
    }
    return self.clients.openWindow ? self.clients.openWindow(target) : null;
  }));
});
