/*! witryna.js: Witryna's storefront SDK. No dependencies; it never throws into the page. */
(function (window, document) {
  "use strict";
  if (window.witryna && window.witryna.loaded) return;

  var VISITOR = "witryna_vid";
  var SESSION = "witryna_sid";
  var CONSENT = "witryna_consent";
  var UNSENT = "witryna_unsent"; // the prefix of every page's hand-over key
  var SESSION_GAP_MS = 30 * 60 * 1000;
  var ID = /^[A-Za-z0-9._:@-]{1,128}$/;
  // The service rejects a whole batch for one unknown type, so unknown types never leave.
  var EVENT_TYPES = ["add_to_cart", "remove_from_cart", "purchase", "click", "search", "checkout", "help"];
  var PAGE_FIELDS = ["type", "item_id", "category", "query"];
  var EVENT_FIELDS = ["item_id", "category", "price", "query"];

  var script = document.currentScript;
  var config = {
    // By default the SDK talks to the origin it was loaded from.
    endpoint: script && script.src ? new URL(script.src, location.href).origin : "",
    // The shop's publishable site key: from init, or the script tag's data-site-key.
    siteKey: (script && script.getAttribute("data-site-key")) || "",
    // The service writes its WITRYNA_SDK_TIMEOUT_MS here when it serves this file.
    timeoutMs: 150,
    consent: true,
    channel: "web",
    flushMs: 1000,
    batchSize: 20,
    templates: {},
    product: null
  };
  var queue = [];
  var sending = []; // batches posted and not answered yet
  var handed = []; // batches kept in storage for the next page to send
  var handedKey = "";
  var failing = false;
  var flushTimer = 0;
  var last = { status: "idle", decision: null, ms: 0 };

  function warn(error) {
    try { window.console && console.warn("witryna:", error); } catch (ignored) { /* nothing to do */ }
  }

  function readStored(key) {
    try {
      var value = window.localStorage.getItem(key);
      if (value !== null) return value;
    } catch (ignored) { /* storage blocked: fall back to a first-party cookie */ }
    var match = document.cookie.match(new RegExp("(?:^|; )" + key + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function store(key, value, days) {
    try { window.localStorage.setItem(key, value); return; } catch (ignored) { /* cookie below */ }
    document.cookie = key + "=" + encodeURIComponent(value) + "; path=/; max-age=" + days * 86400 + "; SameSite=Lax";
  }

  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (ignored) { /* cookie below */ }
    document.cookie = key + "=; path=/; max-age=0";
  }

  function randomId(prefix) {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return prefix + hex;
  }

  function visitorId() {
    var id = readStored(VISITOR);
    if (!id || !ID.test(id)) {
      id = randomId("v-");
      store(VISITOR, id, 395);
    }
    return id;
  }

  // A session ends after 30 minutes without a page view or event, as in training.
  function sessionId() {
    var now = Date.now();
    var parts = (readStored(SESSION) || "").split("|");
    var id = parts.length === 2 && now - Number(parts[1]) < SESSION_GAP_MS ? parts[0] : randomId("s-");
    store(SESSION, id + "|" + now, 1);
    return id;
  }

  function consented() {
    var choice = readStored(CONSENT);
    return choice === null ? config.consent !== false : choice === "1";
  }

  function device() {
    var width = window.innerWidth || 1024;
    return width < 768 ? "mobile" : width < 1024 ? "tablet" : "desktop";
  }

  function pick(source, fields) {
    var out = {};
    for (var i = 0; i < fields.length; i++) {
      var value = source && source[fields[i]];
      if (value !== undefined && value !== null && value !== "") out[fields[i]] = value;
    }
    return out;
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // text/plain keeps these "simple" cross-origin requests: no preflight round trip.
  // The site key rides in the query: a header would cost a preflight.
  function url(path) {
    return config.endpoint + path + "?key=" + encodeURIComponent(config.siteKey);
  }

  function post(path, body, keepalive) {
    return window.fetch(url(path), {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
      credentials: "omit",
      keepalive: !!keepalive
    });
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error("no answer in " + ms + " ms")); }, ms);
      promise.then(
        function (value) { clearTimeout(timer); resolve(value); },
        function (error) { clearTimeout(timer); reject(error); }
      );
    });
  }

  function slotElements() {
    var found = {};
    var nodes = document.querySelectorAll("[data-witryna-slot]");
    for (var i = 0; i < nodes.length; i++) {
      var name = nodes[i].getAttribute("data-witryna-slot");
      if (name && !found[name]) found[name] = nodes[i];
    }
    return found;
  }

  var MESSAGES = {
    checkout_express: ["Ready when you are", "Your cart is saved: check out in two taps."],
    reassurance: ["Shop without worry", "Free returns for 30 days and delivery tracked to your door."],
    inspiration: ["New and noteworthy", "Fresh picks from the categories you are exploring."],
    best_sellers: ["Best sellers", "What other shoppers love right now."],
    free_shipping: ["Free shipping on this order", "Delivery is on us today."],
    ten_percent_off: ["10% off your order", "Applied at checkout, today only."],
    chat: ["Questions?", "Our team is online: chat with us."]
  };

  function productOf(itemId) {
    var found = typeof config.product === "function" ? config.product(itemId) : null;
    return found || { title: itemId };
  }

  function carouselHtml(slot) {
    var html = '<ul class="witryna-carousel">';
    for (var i = 0; i < slot.items.length; i++) {
      var id = slot.items[i].item_id;
      var item = productOf(id);
      var title = escapeHtml(item.title || id);
      var label = item.url ? '<a href="' + escapeHtml(item.url) + '">' + title + "</a>" : title;
      var price = item.price !== undefined ? ' <span class="witryna-price">' + escapeHtml(item.price) + "</span>" : "";
      html += '<li data-witryna-item="' + escapeHtml(id) + '">' + label + price + "</li>";
    }
    return html + "</ul>";
  }

  function bannerHtml(variant) {
    var message = MESSAGES[variant];
    if (!message) return null;
    return '<div class="witryna-banner witryna-' + escapeHtml(variant) + '"><strong>' +
      escapeHtml(message[0]) + "</strong> <span>" + escapeHtml(message[1]) + "</span></div>";
  }

  // The shop's own templates win: a function in config, then a <template> in the page.
  function contentFor(name, slot, decision) {
    var custom = config.templates[name + ":" + slot.variant] || config.templates[slot.variant] ||
      config.templates[name];
    if (typeof custom === "function") return custom(slot, { decision: decision, product: productOf, escape: escapeHtml });
    var template = document.querySelector('template[data-witryna-template="' + name + ":" + slot.variant + '"]') ||
      document.querySelector('template[data-witryna-template="' + slot.variant + '"]');
    if (template) return template.content.cloneNode(true);
    if (slot.items && slot.items.length) return carouselHtml(slot);
    return bannerHtml(slot.variant);
  }

  function fill(element, name, slot, decision) {
    element.setAttribute("data-witryna-variant", slot.variant);
    var content = slot.variant === "none" ? null : contentFor(name, slot, decision);
    if (content === null || content === undefined) {
      element.setAttribute("data-witryna-state", "default");
      return;
    }
    if (typeof content === "string") {
      element.innerHTML = content;
    } else {
      element.textContent = "";
      element.appendChild(content);
    }
    element.setAttribute("data-witryna-state", "filled");
  }

  function render(decision, elements) {
    for (var name in decision.slots) {
      if (!elements[name]) continue;
      try {
        fill(elements[name], name, decision.slots[name], decision);
      } catch (error) {
        elements[name].setAttribute("data-witryna-state", "default");
        warn(error);
      }
    }
  }

  function announce(status, decision, started) {
    last = { status: status, decision: decision, ms: Math.round(Date.now() - started) };
    document.documentElement.setAttribute("data-witryna", status);
    try {
      document.dispatchEvent(new CustomEvent("witryna:decision", { detail: last }));
    } catch (error) {
      warn(error);
    }
  }

  function requestDecision(context, started) {
    var elements = slotElements();
    var body = {
      visitor_id: visitorId(),
      session_id: sessionId(),
      page: pick(context, PAGE_FIELDS),
      channel: config.channel,
      device: device()
    };
    var names = Object.keys(elements).slice(0, 16);
    if (names.length) body.slots = names;
    var answer = post("/v1/page-views", body).then(function (response) {
      if (!response.ok) throw new Error("page view answered " + response.status);
      return response.json();
    });
    return withTimeout(answer, config.timeoutMs).then(
      function (decision) {
        failing = false;
        render(decision, elements);
        announce(decision.degraded ? "degraded" : "personalised", decision, started);
        return decision;
      },
      function (error) {
        // Events left for a beacon would be lost too: on leaving, the next page sends them.
        failing = true;
        warn(error);
        announce("fallback", null, started);
        return null;
      }
    );
  }

  function page(context) {
    var started = Date.now();
    if (!consented() || typeof window.fetch !== "function") {
      announce(consented() ? "fallback" : "no_consent", null, started);
      return Promise.resolve(null);
    }
    if (document.readyState === "loading") {
      return new Promise(function (resolve) {
        document.addEventListener("DOMContentLoaded", function () {
          resolve(requestDecision(context || {}, Date.now()));
        });
      });
    }
    return requestDecision(context || {}, started);
  }

  function track(type, fields) {
    if (!consented()) return;
    if (EVENT_TYPES.indexOf(type) < 0) {
      warn("unknown event type " + type);
      return;
    }
    var event = pick(fields, EVENT_FIELDS);
    if (event.price !== undefined) event.price = Number(event.price);
    event.visitor_id = visitorId();
    event.session_id = sessionId();
    event.type = type;
    event.channel = config.channel;
    queue.push(event);
    if (queue.length >= config.batchSize) flush();
    else if (!flushTimer) flushTimer = setTimeout(flush, config.flushMs);
  }

  // On the way out the page cannot wait for an answer: sendBeacon hands the batch to the browser.
  function flush(leaving) {
    clearTimeout(flushTimer);
    flushTimer = 0;
    if (!consented()) return;
    // A beacon to a service that just failed would be lost, and so would a post still on its
    // way to it: once the page is gone no one is left to keep the batch when the post fails.
    // The next page sends these instead; a post that succeeds after all sends them twice.
    if (leaving && failing) {
      handOver(sending.filter(function (batch) { return handed.indexOf(batch) < 0; }));
      if (queue.length) handOver([queue.splice(0, 1000)]);
      return;
    }
    if (!queue.length) return;
    var batch = queue.splice(0, 1000);
    if (leaving && navigator.sendBeacon) {
      var blob = new Blob([JSON.stringify({ events: batch })], { type: "text/plain" });
      if (navigator.sendBeacon(url("/v1/events"), blob)) return;
    }
    if (typeof window.fetch !== "function") return;
    sending.push(batch);
    post("/v1/events", { events: batch }, true).then(
      function (response) {
        answered(batch);
        failing = false;
        // The page lived on and the post got through: the next page must not send it again.
        takeBack(batch);
        if (!response.ok) warn("events answered " + response.status);
      },
      function (error) {
        answered(batch);
        failing = true;
        warn(error);
        // Kept for the next flush, within bounds, so a blip loses nothing.
        if (handed.indexOf(batch) < 0) queue = batch.concat(queue).slice(0, 1000);
      }
    );
  }

  function answered(batch) {
    sending.splice(sending.indexOf(batch), 1);
  }

  function handOver(batches) {
    if (!batches.length) return;
    handed = handed.concat(batches);
    keepHanded();
  }

  function takeBack(batch) {
    var at = handed.indexOf(batch);
    if (at < 0) return;
    handed.splice(at, 1);
    keepHanded();
  }

  // Each page keeps its hand-over under a key of its own: two tabs left during one outage
  // would otherwise overwrite each other's events.
  function keepHanded() {
    if (!handedKey) handedKey = randomId(UNSENT + ".");
    if (!handed.length) return forget(handedKey);
    store(handedKey, JSON.stringify([].concat.apply([], handed).slice(0, 1000)), 1);
  }

  function unsentKeys() {
    var keys = [];
    try {
      for (var i = 0; i < window.localStorage.length; i++) {
        var key = window.localStorage.key(i);
        if (key && key.indexOf(UNSENT) === 0) keys.push(key);
      }
    } catch (ignored) { /* storage blocked: the hand-overs are cookies */ }
    document.cookie.split("; ").forEach(function (pair) {
      var name = pair.split("=")[0];
      if (name.indexOf(UNSENT) === 0 && keys.indexOf(name) < 0) keys.push(name);
    });
    return keys;
  }

  function unanswered() {
    var count = 0;
    for (var i = 0; i < sending.length; i++) count += sending[i].length;
    return count;
  }

  function consent(granted) {
    store(CONSENT, granted ? "1" : "0", 395);
    if (!granted) {
      queue = [];
      handed = [];
      unsentKeys().forEach(forget);
      forget(VISITOR);
      forget(SESSION);
    }
  }

  // The shop's backend signs the link (docs/security.md); the SDK only passes it on.
  function identify(customerId, token, expires) {
    if (!consented() || typeof window.fetch !== "function") return Promise.resolve(null);
    var body = { visitor_id: visitorId(), customer_id: customerId, token: token, expires: expires };
    return post("/v1/identify", body, false).then(function (response) {
      return response.ok ? response.json() : null;
    }, function () { return null; });
  }

  function init(options) {
    for (var key in options) if (Object.prototype.hasOwnProperty.call(options, key)) config[key] = options[key];
    if (config.endpoint) config.endpoint = String(config.endpoint).replace(/\/+$/, "");
  }

  var api = {
    init: init,
    page: page,
    track: track,
    flush: flush,
    consent: consent,
    identify: identify,
    decision: function () { return last; },
    pending: function () { return queue.length + unanswered(); },
    visitorId: function () { return consented() ? visitorId() : null; }
  };

  function witryna(command) {
    try {
      if (!api[command]) throw new Error("unknown command " + command);
      return api[command].apply(null, Array.prototype.slice.call(arguments, 1));
    } catch (error) {
      warn(error);
    }
  }
  Object.keys(api).forEach(function (name) {
    witryna[name] = function () {
      return witryna.apply(null, [name].concat(Array.prototype.slice.call(arguments)));
    };
  });
  witryna.loaded = true;

  window.addEventListener("pagehide", function () { witryna("flush", true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") witryna("flush", true);
  });
  document.addEventListener("click", function (event) {
    try {
      var target = event.target && event.target.closest && event.target.closest("[data-witryna-item]");
      if (target) track("click", { item_id: target.getAttribute("data-witryna-item") });
    } catch (error) {
      warn(error);
    }
  });

  // Every page left during an outage handed its events on; this page sends them all.
  function resumeUnsent() {
    var saved = [];
    unsentKeys().forEach(function (key) {
      var value = readStored(key);
      forget(key);
      try {
        if (value) saved = saved.concat(JSON.parse(value));
      } catch (error) {
        warn(error);
      }
    });
    if (!saved.length) return;
    queue = saved.concat(queue).slice(0, 1000);
    flushTimer = setTimeout(flush, config.flushMs);
  }
  try {
    resumeUnsent();
  } catch (error) {
    warn(error);
  }

  // Commands queued by the loader snippet before this file arrived run now, in order.
  var waiting = (window.witryna && window.witryna.q) || [];
  window.witryna = witryna;
  for (var i = 0; i < waiting.length; i++) witryna.apply(null, waiting[i]);
})(window, document);
