// The reports page: choosing another report reloads the form with that report's filters (without generating it).
// Without this script, Generate runs the chosen report just the same.
const select = document.getElementById("report-select");
if (select) {
  select.addEventListener("change", () => {
    select.form.querySelector("[name=generate]").value = "";
    select.form.submit();
  });
}
