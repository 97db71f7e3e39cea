# Guest half of kernel_mmiotrace.sh (Documentation/trace/mmiotrace.rst).
dev=$(vm_pci 8086 100e)
vm_facts e1000 "$dev"
mount -t tracefs nodev /sys/kernel/tracing
t=/sys/kernel/tracing
echo 8192 > $t/buffer_size_kb
echo mmiotrace > $t/current_tracer
cat $t/trace_pipe > /out/kernel.log &
reader=$!
vm_trace_on
modprobe e1000
rmmod e1000
vm_trace_off
# Let the reader drain the buffer, then stop it before switching the tracer
# off (nop fails with EBUSY while trace_pipe is open).
sleep 1
kill $reader
wait $reader || true
echo nop > $t/current_tracer
echo "kernel log: $(grep -c '^[RW] ' /out/kernel.log) R/W lines"
