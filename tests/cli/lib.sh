# Shared start of the CLI tests (sourced; not a test itself: only *_test.sh are registered).
# cli_begin TOOL...: checks the environment ctest sets (MESHRAID, WORK), that each TOOL is
# installed, then makes WORK empty and the current directory (fio drops state files there) and
# exports MESHRAID_RUN_DIR (default WORK/run).
cli_begin() {
  : "${MESHRAID:?set MESHRAID to the meshraid binary}"
  : "${WORK:?set WORK to a scratch directory}"
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (scripts/setup installs it)"; exit 1; }
  done
  rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
  export MESHRAID_RUN_DIR="${MESHRAID_RUN_DIR:-$WORK/run}"
}
