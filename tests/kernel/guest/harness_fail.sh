# In the guest, for harness_test.sh: writes a file to /out, says where it is, and then either
# exits with the status given or hangs (the runner's timeout must catch it).
. /test/guest_lib.sh
step "writing a file"
echo "from the guest: $(uname -r)" >/out/file.txt
echo "to stderr" >&2
echo "harness-test: a line for the kernel log" >/dev/kmsg
step "the last step before the end"
if [ "$1" = hang ]; then sleep 3600; fi
exit "$1"
