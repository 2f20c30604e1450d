/* Witryna's reason codes in plain words, for the demo's "Why this page?" drawer.
   Each entry: a pattern over the code, and the sentence it makes. A code no pattern knows
   gets null, and the drawer shows the code alone. */
(function () {
  "use strict";

  var INTENTS = {
    buy: "about to buy",
    hesitate: "hesitating",
    browse: "just browsing",
    leave: "about to leave"
  };
  var SEGMENTS = {
    returning: "came back after a break of half an hour or more",
    cart_active: "has put something in the cart since their last purchase",
    help_seeking: "looked for help or took things out of the cart more than once",
    multichannel: "has used more than one channel (web, app, store…)",
    store_visitor: "has been in a store",
    researched_online: "has looked at products online",
    online_to_store: "looked online and then went to a store",
    customer: "has bought before"
  };
  var CONDITIONS = {
    intents: "it targets another intent",
    pages: "it is not meant for this page",
    cart_items: "the cart does not hold what it needs",
    buy_prob: "the visitor's chance to buy is outside its range (no discount for who buys anyway)",
    channels: "it is meant for another channel",
    devices: "it is meant for another device",
    hours: "it is not shown at this hour",
    weekdays: "it is not shown on this weekday",
    segments: "the visitor is not in the segment it needs",
    arms: "the visitor is not in the experiment arm that gets it",
    uplift: "the estimated effect of an incentive is outside its range"
  };

  function pct(value) { return Math.round(Number(value) * 100) + "%"; }

  function points(value) {
    var pp = Math.abs(Number(value) * 100).toFixed(1);
    if (Number(value) === 0) return "would change nothing";
    return (Number(value) > 0 ? "would raise it by about " : "would lower it by about ") + pp +
      " percentage points";
  }

  function money(value) {
    var n = Number(value);
    return (n < 0 ? "−€" : "€") + Math.abs(n).toFixed(2);
  }

  var WORDS = [
    [/^intent:(\w+):([\d.]+)$/, function (m) {
      return "The model reads this visit as " + (INTENTS[m[1]] || m[1]) + " (" + pct(m[2]) + " sure).";
    }],
    [/^uplift:([+-][\d.]+)$/, function (m) {
      return "The model's guess of an incentive's effect on this visitor's chance to buy: it " + points(m[1]) + ".";
    }],
    [/^rule:intent=(\w+)$/, function (m) { return "Its rule asks for a visitor " + (INTENTS[m[1]] || m[1]) + "."; }],
    [/^rule:segment=(\w+)$/, function (m) {
      return "Its rule asks for a visitor who " + (SEGMENTS[m[1]] || "is in the segment " + m[1]) + ".";
    }],
    [/^rule:page=(\w+)$/, function (m) { return "Its rule shows it on every " + m[1] + " page."; }],
    [/^rule:cart_items=(\d+)$/, function (m) {
      return "Its rule asks for something in the cart, which holds " + m[1] + (m[1] === "1" ? " item." : " items.");
    }],
    [/^rule:help_before_discount$/, function () {
      return "The visitor seems stuck, so help comes before any discount.";
    }],
    [/^rule:none$/, function () { return "The policy adds nothing here: the shop's own content stays."; }],
    [/^rule:(.+)$/, function (m) {
      return "The policy chose \u201c" + m[1] + "\u201d: every condition it sets holds, and no variant of higher priority fits.";
    }],
    [/^arm:([^=]+)=(.+)$/, function (m) {
      return "The visitor is in the \u201c" + m[2] + "\u201d arm of the experiment " + m[1] + ".";
    }],
    [/^explore$/, function () {
      return "Picked at random (exploration), so that the effect of each offer can be learned.";
    }],
    [/^offer:value=([+-][\d.]+)$/, function (m) {
      return "The offer pays: expected gain " + money(m[1]) + " per visitor (effect × margin − cost).";
    }],
    [/^offer:([\w-]+):value=unknown$/, function (m) {
      return "\u201c" + m[1] + "\u201d was not shown: the model gave no estimate of an incentive's effect.";
    }],
    [/^offer:([\w-]+):value=([+-][\d.]+)$/, function (m) {
      return "\u201c" + m[1] + "\u201d was weighed and does not pay here: expected gain " + money(m[2]) + ".";
    }],
    [/^offer:([\w-]+):failed=(\w+)$/, function (m) {
      return "\u201c" + m[1] + "\u201d was left out: " + (CONDITIONS[m[2]] || "its condition " + m[2] + " does not hold") + ".";
    }],
    [/^model:next_item$/, function () {
      return "Items in the order of the model's guess of what this visitor looks at next.";
    }],
    [/^model:new_in_category$/, function () {
      return "Some items are new to the shop: the model has not seen them yet, so they rank by how likely their category is next.";
    }],
    [/^fill:popular$/, function () { return "Too few items fitted: popular items in stock fill the rest."; }],
    [/^filter:in_cart$/, function () { return "Items already in the cart were left out."; }],
    [/^filter:out_of_stock$/, function () { return "Sold-out items were left out."; }],
    [/^filter:not_in_catalog$/, function () {
      return "Items the catalogue does not hold were left out: their stock is unknown.";
    }],
    [/^filter:excluded_tag$/, function () { return "Items with a tag the policy excludes were left out."; }],
    [/^diversity:per_category$/, function () { return "Only a few items per category, so the row stays varied."; }],
    [/^boost:(.+)$/, function (m) { return "Items tagged \u201c" + m[1] + "\u201d were moved up."; }],
    [/^catalog:empty$/, function () {
      return "The catalogue is empty, so no item's stock is known: the shop's own content stays.";
    }],
    [/^catalog:unavailable$/, function () {
      return "The catalogue could not be read, so no item's stock is known: the shop's own content stays.";
    }],
    [/^holdout$/, function () {
      return "The visitor is in the holdout: default content everywhere, the baseline every result is measured against.";
    }],
    [/^slot:not_in_policy$/, function () { return "The policy has no slot of this name: default content."; }],
    [/^fallback:no_eligible_variant$/, function () { return "No variant's conditions hold: default content."; }],
    [/^fallback:default_content$/, function () { return "Default content is shown."; }],
    [/^degraded:redis_unavailable$/, function () {
      return "Witryna could not reach its store (Redis): default content, flagged as degraded.";
    }],
    [/^degraded:model_failed$/, function () { return "The model failed: default content, flagged as degraded."; }],
    [/^consent:off$/, function () { return "The visitor has not agreed to personalisation: default content."; }]
  ];

  window.WITRYNA_REASON_WORDS = function (code) {
    for (var i = 0; i < WORDS.length; i++) {
      var match = WORDS[i][0].exec(code);
      if (match) return WORDS[i][1](match);
    }
    return null;
  };
})();
