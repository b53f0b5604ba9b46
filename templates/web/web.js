// Preselect the reader's own time zone on the sign-up form; without JavaScript the
// newsletter's time zone stays selected and can be changed by hand.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.querySelector("select[data-detect]");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!select || !zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.value = zone; return; }
  }
});
