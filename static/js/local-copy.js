// Copies of unsent writing kept on this device are sealed, never plaintext: AES-GCM with a key
// made here by WebCrypto as non-extractable (no script can read its bytes, only use it) and kept
// in IndexedDB, which stores the CryptoKey object as it is. Only the sealed text (and its IV)
// goes to localStorage or sessionStorage. Signing out destroys the key and every copy before the
// form posts (the server's Clear-Site-Data header does it again, and alone without JavaScript).
// Where WebCrypto or IndexedDB is missing, `supported` is false and nothing is kept at all: the
// server's autosave still works, a plaintext copy never exists.
// draft.js and keep-unsent.js use it through window.cgLocalCopy.
(function () {
  "use strict";
  var DB_NAME = "cg-local-copy";
  var STORE = "keys";
  var KEY_ID = "copies";
  var DRAFT_PREFIX = "cg-draft-";     // draft.js: cg-draft-<user>-<task>, in localStorage
  var UNSENT_PREFIX = "unsent:";      // keep-unsent.js: unsent:<path>, in sessionStorage
  var SENT_MARK = "cg-sent-draft";    // which draft form was just posted (no text), sessionStorage

  var supported = !!(window.crypto && window.crypto.subtle && window.indexedDB &&
                     window.TextEncoder && window.TextDecoder && window.Promise);
  var dbPromise = null;   // the open database, while no one deletes it
  var known = null;       // the key, once read or made
  var making = null;      // a key being made, so that fast typing makes only one
  var generation = 0;     // moves on when the key is destroyed: late answers are ignored

  function forget() { dbPromise = null; known = null; making = null; generation += 1; }

  function database() {
    if (dbPromise) { return dbPromise; }
    dbPromise = new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () {
        var db = request.result;
        // Another tab signs out and deletes the database: let go of it, and of the key.
        db.onversionchange = function () { db.close(); forget(); };
        db.onclose = forget;
        resolve(db);
      };
      request.onerror = function () { reject(request.error); };
    });
    dbPromise.catch(function () { dbPromise = null; });
    return dbPromise;
  }

  // The stored key; with `fresh`, store that one unless a key is there already (one read-write
  // transaction, so two tabs making a key at once still end up with the same one).
  function stored(fresh) {
    return database().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, fresh ? "readwrite" : "readonly");
        var store = tx.objectStore(STORE);
        var found = null;
        var get = store.get(KEY_ID);
        get.onsuccess = function () {
          found = get.result || null;
          if (!found && fresh) { store.put(fresh, KEY_ID); found = fresh; }
        };
        tx.oncomplete = function () { resolve(found); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  // The key, or null. create=false only reads: a page that shows a copy never makes a key.
  function key(create) {
    if (!supported) { return Promise.resolve(null); }
    if (known) { return Promise.resolve(known); }
    if (create && making) { return making; }
    var asked = generation;
    var lookup = (create
      ? crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"])
          .then(stored)
      : stored(null)
    ).then(function (found) {
      if (asked !== generation) { return null; }  // destroyed meanwhile (signed out)
      if (found) { known = found; }
      return found;
    }).catch(function () { return null; });
    if (create) {
      making = lookup;
      lookup.then(function () { making = null; });
    }
    return lookup;
  }

  function bytesToBase64(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function base64ToBytes(text) {
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  // Seal any JSON value for the storage entry `name` (bound in as additional data, so a copy
  // cannot be moved to another entry). Resolves to {iv, ct} (base64), or null if it cannot.
  function seal(name, value) {
    return key(true).then(function (k) {
      if (!k) { return null; }
      var iv = crypto.getRandomValues(new Uint8Array(12));
      var plain = new TextEncoder().encode(JSON.stringify(value));
      return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: new TextEncoder().encode(name) },
                                   k, plain).then(function (sealed) {
        return { iv: bytesToBase64(iv), ct: bytesToBase64(new Uint8Array(sealed)) };
      });
    }).catch(function () { return null; });
  }

  // Open what seal() made for `name`: the value, or null (no key any more, or not ours).
  function open(name, box) {
    if (!box || typeof box.iv !== "string" || typeof box.ct !== "string") { return Promise.resolve(null); }
    return key(false).then(function (k) {
      if (!k) { return null; }
      return crypto.subtle.decrypt({ name: "AES-GCM", iv: base64ToBytes(box.iv),
                                     additionalData: new TextEncoder().encode(name) },
                                   k, base64ToBytes(box.ct)).then(function (plain) {
        return JSON.parse(new TextDecoder().decode(plain));
      });
    }).catch(function () { return null; });
  }

  function removeAll(storage, prefix) {
    try {
      var names = [];
      for (var i = 0; i < storage.length; i += 1) {
        var name = storage.key(i);
        if (name && name.indexOf(prefix) === 0) { names.push(name); }
      }
      names.forEach(function (name) { storage.removeItem(name); });
    } catch (e) { /* storage off */ }
  }

  // Every copy and the key: the copies at once, then the database with the key in it.
  function wipe() {
    removeAll(window.localStorage, DRAFT_PREFIX);
    removeAll(window.sessionStorage, UNSENT_PREFIX);
    try { sessionStorage.removeItem(SENT_MARK); } catch (e) { /* storage off */ }
    var closing = dbPromise ? dbPromise.then(function (db) { db.close(); }, function () {}) : Promise.resolve();
    forget();
    if (!window.indexedDB) { return Promise.resolve(); }
    return closing.then(function () {
      return new Promise(function (resolve) {
        var request = indexedDB.deleteDatabase(DB_NAME);
        // Other tabs close their connection on "versionchange"; until then this waits.
        request.onsuccess = request.onerror = function () { resolve(); };
      });
    });
  }

  // Sign out: destroy the key and the copies, then post the form (after at most a moment, and
  // whatever happened: signing out never waits on this).
  var signingOut = false;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-sign-out")) { return; }
    event.preventDefault();
    if (signingOut) { return; }
    signingOut = true;
    var posted = false;
    function post() {
      if (posted) { return; }
      posted = true;
      HTMLFormElement.prototype.submit.call(form);
    }
    setTimeout(post, 1500);
    try { wipe().then(post, post); } catch (e) { post(); }
  });

  // A draft form was posted (draft.js marks it): when its answer is this page, reached by the
  // redirect that follows a successful save or send, the server has the text; drop the copy.
  // A refused post (4xx/5xx), a reload or coming back to the page keeps it.
  function settleSentDraft() {
    var mark;
    try {
      mark = JSON.parse(sessionStorage.getItem(SENT_MARK) || "null");
      sessionStorage.removeItem(SENT_MARK);
    } catch (e) { return; }
    if (!mark || typeof mark.key !== "string" || mark.key.indexOf(DRAFT_PREFIX) !== 0 ||
        mark.path !== location.pathname) { return; }
    var nav = window.performance && performance.getEntriesByType &&
              performance.getEntriesByType("navigation")[0];
    if (!nav || nav.type !== "navigate" || !(nav.redirectCount > 0)) { return; }
    if (nav.responseStatus && nav.responseStatus >= 400) { return; }
    try { localStorage.removeItem(mark.key); } catch (e) { /* storage off */ }
  }

  // Copies kept in plaintext by an earlier version of draft.js: sealed now, or removed where
  // they cannot be sealed. A draft form on this page looks after its own (draft.js).
  function sealOldCopies() {
    var names = [];
    try {
      for (var i = 0; i < localStorage.length; i += 1) {
        var name = localStorage.key(i);
        if (name && name.indexOf(DRAFT_PREFIX) === 0) { names.push(name); }
      }
    } catch (e) { return; }
    var onThisPage = Array.prototype.map.call(document.querySelectorAll("form[data-draft-key]"), function (form) {
      return form.getAttribute("data-draft-key");
    });
    names.forEach(function (name) {
      if (onThisPage.indexOf(name) !== -1) { return; }
      var raw = localStorage.getItem(name), kept;
      try { kept = JSON.parse(raw || "null"); } catch (e) { kept = null; }
      if (kept && kept.v === 2) { return; }
      if (!supported || !kept || !kept.data) { localStorage.removeItem(name); return; }
      seal(name, { at: kept.at, data: kept.data }).then(function (box) {
        if (localStorage.getItem(name) !== raw) { return; }
        if (box) { localStorage.setItem(name, JSON.stringify({ v: 2, at: kept.at, iv: box.iv, ct: box.ct })); }
        else { localStorage.removeItem(name); }
      });
    });
  }

  window.cgLocalCopy = {
    supported: supported,
    // Make or read the key ahead of the first keystroke, so that a copy is sealed and written
    // within moments of the typing even when the tab is closed right after.
    ready: function () { return key(true); },
    seal: seal,
    open: open,
    wipe: wipe,
    DRAFT_PREFIX: DRAFT_PREFIX,
    SENT_MARK: SENT_MARK
  };

  settleSentDraft();
  sealOldCopies();
})();
