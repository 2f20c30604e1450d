/* The demo store: a small shop that talks to Witryna only through witryna.js. */
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  // ?endpoint=, ?sdk= and ?key= let the same pages run from any static host against any
  // service; served by Witryna itself, the page carries the service's site key.
  ["endpoint", "sdk", "key"].forEach(function (key) {
    if (params.get(key)) sessionStorage.setItem("demo_" + key, params.get(key));
  });
  var endpoint = sessionStorage.getItem("demo_endpoint") || location.origin;
  var sdkUrl = sessionStorage.getItem("demo_sdk") || endpoint + "/sdk/witryna.js";
  var served = document.querySelector('meta[name="witryna-site-key"]');
  var siteKey = sessionStorage.getItem("demo_key") || (served && served.content) || "";

  var items = window.WITRYNA_DEMO_CATALOG.items;
  var byId = {};
  items.forEach(function (item) { byId[item.item_id] = item; });
  var categories = [];
  items.forEach(function (item) {
    if (categories.indexOf(item.category) < 0) categories.push(item.category);
  });

  function el(id) { return document.getElementById(id); }

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function money(value) { return "€" + Number(value).toFixed(2); }

  function hue(category) { return (categories.indexOf(category) * 47) % 360; }

  function swatch(item) {
    return '<div class="swatch" style="background:linear-gradient(135deg,hsl(' + hue(item.category) +
      ',60%,70%),hsl(' + hue(item.category) + ',55%,45%))"></div>';
  }

  function card(item) {
    return '<li class="card" data-witryna-item="' + esc(item.item_id) + '">' + swatch(item) +
      '<a href="?p=product&id=' + esc(item.item_id) + '">' + esc(item.title) + "</a>" +
      '<div class="price">' + money(item.price) + "</div></li>";
  }

  function popular(list, n) {
    return list.slice().sort(function (a, b) { return b.popularity - a.popularity; }).slice(0, n);
  }

  function inCategory(category) {
    return items.filter(function (item) { return item.category === category; });
  }

  function cart() {
    try { return JSON.parse(localStorage.getItem("demo_cart") || "[]"); } catch (e) { return []; }
  }

  function saveCart(lines) {
    localStorage.setItem("demo_cart", JSON.stringify(lines));
    el("cart-count").textContent = String(lines.length);
  }

  // Default content: what every visitor sees when Witryna is off, slow or down.
  function slot(name, html) {
    return '<section class="slot" data-witryna-slot="' + name + '">' + (html || "") + "</section>";
  }

  function heroSlot() {
    return slot("hero", '<div class="banner">Welcome to the Witryna demo store: delivery in 48 hours.</div>');
  }

  function helpSlot() {
    return slot("help", '<p><a href="?p=help">Need help? Read our answers to common questions.</a></p>');
  }

  function recsSlot(fallback) {
    return slot("recommendations", '<ul class="grid">' + fallback.map(card).join("") + "</ul>");
  }

  var pages = {
    home: function () {
      var grid = categories.map(function (c) {
        var first = inCategory(c)[0];
        return '<li class="card">' + swatch(first) + '<a href="?p=category&c=' + c + '">' + esc(c) + "</a></li>";
      }).join("");
      return { context: { type: "home" }, html: heroSlot() + "<h2>Shop by category</h2><ul class='grid'>" + grid +
        "</ul><h2>Recommended for you</h2>" + recsSlot(popular(items, 8)) };
    },
    category: function () {
      var category = params.get("c") || categories[0];
      var list = inCategory(category);
      return { context: { type: "category", category: category }, html: heroSlot() + "<h1>" + esc(category) +
        "</h1><ul class='grid'>" + list.map(card).join("") + "</ul><h2>You may also like</h2>" +
        recsSlot(popular(items, 6)) };
    },
    product: function () {
      var item = byId[params.get("id")] || items[0];
      var detail = '<article class="product">' + swatch(item) + "<div><h1>" + esc(item.title) + "</h1><p>" +
        esc(item.category) + '</p><p class="price">' + money(item.price) + "</p>" +
        '<button id="add" data-item="' + esc(item.item_id) + '">Add to cart</button> <span id="added"></span></div></article>';
      return { context: { type: "product", item_id: item.item_id, category: item.category },
        html: heroSlot() + detail + slot("offer") + helpSlot() + "<h2>Related products</h2>" +
          recsSlot(popular(inCategory(item.category), 6)) };
    },
    cart: function () {
      var lines = cart();
      var rows = lines.map(function (id) {
        var item = byId[id];
        return "<tr><td>" + esc(item.title) + "</td><td>" + money(item.price) +
          '</td><td><button class="remove" data-item="' + esc(id) + '">Remove</button></td></tr>';
      }).join("");
      var body = lines.length ? "<table>" + rows + '</table><p><a class="button" id="to-checkout" href="?p=checkout">Checkout</a></p>'
        : "<p>Your cart is empty.</p>";
      return { context: { type: "cart" }, html: heroSlot() + "<h1>Your cart</h1>" + body + slot("offer") +
        helpSlot() + "<h2>Before you go</h2>" + recsSlot(popular(items, 6)) };
    },
    checkout: function () {
      var lines = cart();
      var total = lines.reduce(function (sum, id) { return sum + byId[id].price; }, 0);
      var body = params.get("done") ? '<p id="thanks">Thank you for your order!</p>'
        : "<p>" + lines.length + " items, total " + money(total) + '</p><button id="place-order">Place order</button>';
      return { context: { type: "checkout" }, html: "<h1>Checkout</h1>" + slot("offer") + body + helpSlot() };
    },
    help: function () {
      return { context: { type: "help" }, html: "<h1>Help</h1><p>Delivery takes two days. Returns are free for 30 days.</p>" +
        helpSlot() + "<h2>Popular right now</h2>" + recsSlot(popular(items, 6)) };
    }
  };

  function track(type, id) {
    var item = byId[id];
    witryna("track", type, { item_id: id, category: item.category, price: item.price });
    witryna("flush");
  }

  function placeOrder(items) {
    var visitor = window.witryna.visitorId ? window.witryna.visitorId() : null;
    if (!visitor || !items.length || typeof window.fetch !== "function") return Promise.resolve();
    return window.fetch(endpoint + "/demo/orders", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ visitor_id: visitor, items: items })
    }).catch(function () { /* the order page shows either way */ });
  }

  function wire() {
    document.addEventListener("click", function (event) {
      var target = event.target;
      if (target.id === "add") {
        saveCart(cart().concat([target.getAttribute("data-item")]));
        track("add_to_cart", target.getAttribute("data-item"));
        el("added").textContent = "Added to your cart";
      } else if (target.classList.contains("remove")) {
        var id = target.getAttribute("data-item");
        var lines = cart();
        lines.splice(lines.indexOf(id), 1);
        saveCart(lines);
        track("remove_from_cart", id);
        location.reload();
      } else if (target.id === "place-order") {
        // The order goes to the shop's backend, which vouches for it; the demo's stands in.
        placeOrder(cart()).then(function () {
          saveCart([]);
          location.search = "?p=checkout&done=1";
        });
      } else if (target.id === "arm-start") {
        var chosen = el("arm-choice").value.split(" ");
        params.set("experiment", chosen[0]);
        params.set("arm", chosen[1]);
        location.search = "?" + params.toString();
      } else if (target.id === "drawer-toggle") {
        var open = el("drawer").hidden;
        el("drawer").hidden = !open;
        target.setAttribute("aria-expanded", String(open));
      }
    });
    var consent = el("consent");
    consent.checked = localStorage.getItem("witryna_consent") !== "0";
    consent.addEventListener("change", function () {
      witryna("consent", consent.checked);
      location.reload();
    });
  }

  function showDecision(event) {
    var detail = event.detail;
    var decision = detail.decision;
    if (!decision) {
      el("drawer-status").textContent = detail.status === "no_consent"
        ? "Personalisation is off: nothing was sent, default content shown."
        : "Witryna did not answer in time: default content shown (" + detail.ms + " ms).";
      el("arm-badge").textContent = "arm: none shown";
      return;
    }
    el("drawer-status").textContent = "Intent " + decision.intent.label + " · model " + decision.model_version +
      " · " + detail.ms + " ms" + (decision.degraded ? " · degraded" : "");
    var probabilities = decision.intent.probabilities;
    el("drawer-intent").innerHTML = "<h3>Intent probabilities</h3>" + Object.keys(probabilities).map(function (k) {
      var p = probabilities[k];
      return '<div class="bar" data-intent="' + esc(k) + '"><span>' + esc(k) + '</span><span><span class="fill" style="width:' +
        Math.round(p * 100) + '%"></span></span><span>' + p.toFixed(2) + "</span></div>";
    }).join("");
    el("drawer-slots").innerHTML = "<h3>Slots</h3>" + Object.keys(decision.slots).map(function (name) {
      var s = decision.slots[name];
      return '<div class="drawer-slot" data-slot="' + esc(name) + '"><strong>' + esc(name) + "</strong>: " +
        esc(s.variant) + '<ul class="slot-reasons">' + s.reasons.map(reasonHtml).join("") + "</ul></div>";
    }).join("");
    showArms(decision.visitor_id);
  }

  function reasonHtml(code) {
    var words = window.WITRYNA_REASON_WORDS ? window.WITRYNA_REASON_WORDS(code) : null;
    return '<li class="reason"><code>' + esc(code) + "</code>" +
      (words ? ' <span class="words">' + esc(words) + "</span>" : "") + "</li>";
  }

  // The demo's stand-in backend tells the visitor's arms, or makes a new visitor in an arm.
  function visitors(body) {
    if (typeof window.fetch !== "function") return Promise.resolve(null);
    return window.fetch(endpoint + "/demo/visitors", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body)
    }).then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function showArms(visitor) {
    visitors({ visitor_id: visitor }).then(function (told) {
      if (!told) return;
      var arms = Object.keys(told.arms).map(function (e) { return e + ": " + told.arms[e]; });
      el("arm-badge").textContent = "arm: " + (arms.join(", ") || "no experiment");
      el("arm-now").textContent = arms.length ? "This visitor is in " + arms.join(", ") + "."
        : "The policy runs no experiment.";
      el("arm-choice").innerHTML = Object.keys(told.choices).map(function (e) {
        return told.choices[e].map(function (arm) {
          var value = e + " " + arm;
          return '<option value="' + esc(value) + '"' + (told.arms[e] === arm ? " selected" : "") + ">" +
            esc(e + ": " + arm) + "</option>";
        }).join("");
      }).join("");
    });
  }

  // ?arm= (and ?experiment=): start over as a new visitor whom the hash puts in that arm.
  function chooseArm() {
    var arm = params.get("arm");
    if (!arm || localStorage.getItem("witryna_consent") === "0") return Promise.resolve();
    params.delete("arm");
    var experiment = params.get("experiment");
    params.delete("experiment");
    history.replaceState(null, "", "?" + params.toString());
    return visitors({ arm: arm, experiment: experiment }).then(function (made) {
      if (!made) return;
      localStorage.setItem("witryna_vid", made.visitor_id);
      localStorage.removeItem("witryna_sid");
      saveCart([]);
    });
  }

  function start() {
    var render = pages[params.get("p")] || pages.home;
    var view = render();
    el("page").innerHTML = view.html;
    el("nav").innerHTML = popular(items, 200).reduce(function (shown, item) {
      if (shown.indexOf(item.category) < 0 && shown.length < 8) shown.push(item.category);
      return shown;
    }, []).map(function (c) { return '<a href="?p=category&c=' + c + '">' + esc(c) + "</a>"; }).join("") +
      '<a href="?p=help">help</a>';
    el("cart-count").textContent = String(cart().length);
    wire();
    document.addEventListener("witryna:decision", showDecision);

    witryna("init", {
      endpoint: endpoint,
      siteKey: siteKey,
      product: function (id) {
        var item = byId[id];
        return item && { title: item.title, price: money(item.price), url: "?p=product&id=" + id };
      },
      templates: {
        recommendations: function (decided) {
          var known = decided.items.map(function (i) { return byId[i.item_id]; }).filter(Boolean);
          return '<ul class="grid">' + known.map(card).join("") + "</ul>";
        }
      }
    });
    witryna("page", view.context);

    var sdk = document.createElement("script");
    sdk.async = true;
    sdk.src = sdkUrl;
    document.head.appendChild(sdk);
  }

  // The SDK loads only once the visitor is settled: it reads the id when it starts.
  chooseArm().then(start, start);
})();
