/* The chat widget for wiki pages: <script src="http://HOST:PORT/widget.js" async></script>
 * puts the compact chat (/embed/ of the server the script came from) in an
 * iframe right where the script tag is. Options, as attributes of the tag:
 *   data-height="600px"   height of the frame
 *   data-target="#id"     put the frame in that element instead
 * Nothing else is loaded: the frame's page comes from the same server, and
 * runs in its own origin, not in the wiki page. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) { return; }
  // The chat lives beside this script, whatever prefix the server is under.
  var embedUrl = new URL("embed/", new URL("./", script.src)).href;
  var frame = document.createElement("iframe");
  frame.src = embedUrl;
  frame.title = script.getAttribute("data-title") || "Ask the articles";
  frame.setAttribute("loading", "lazy");
  frame.setAttribute("referrerpolicy", "no-referrer");
  frame.style.width = "100%";
  frame.style.minWidth = "320px";
  frame.style.height = script.getAttribute("data-height") || "600px";
  frame.style.border = "1px solid #ccc";
  frame.style.borderRadius = "8px";
  var target = script.getAttribute("data-target");
  var host = target ? document.querySelector(target) : null;
  if (host) {
    host.appendChild(frame);
  } else {
    script.parentNode.insertBefore(frame, script.nextSibling);
  }
})();
