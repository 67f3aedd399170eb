// The citizen hotline's chat (templates/hotline/chat.html): our own file, so that the page
// runs no inline script (Content-Security-Policy script-src 'self').
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("chat");
  var input = document.getElementById("text");
  var conversationId = null;
  // the page's words in the reader's language (the template fills them in)
  var words = {
    source: form.dataset.source || "Source:",
    failed: form.dataset.failed || "Sorry, that did not work. Please try again.",
    unreachable: form.dataset.unreachable || "The hotline cannot be reached right now."
  };

  function add(who, text) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    div.textContent = text;  // never innerHTML: the text is untrusted
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function addCitations(div, citations) {
    citations.forEach(function (c) {
      var p = document.createElement("div");
      p.className = "cite";
      var isLink = /^https?:\/\//.test(c.source);
      var el = document.createElement(isLink ? "a" : "span");
      el.textContent = c.title + (isLink ? "" : " (" + c.source + ")");
      if (isLink) { el.href = c.source; el.rel = "noopener noreferrer"; el.target = "_blank"; }
      p.appendChild(document.createTextNode(words.source + " "));
      p.appendChild(el);
      div.appendChild(p);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    add("you", text);
    input.value = "";
    fetch("/api/hotline/messages", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({conversation_id: conversationId, text: text})
    }).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (res) {
      if (!res.ok) { add("city", words.failed); return; }
      conversationId = res.body.conversation_id;
      var shown = res.body.text.split(/\n\n(?:Source: |来源：)/)[0];  // the citation is shown below
      addCitations(add("city", shown), res.body.citations || []);
    }).catch(function () { add("city", words.unreachable); });
  });
})();
