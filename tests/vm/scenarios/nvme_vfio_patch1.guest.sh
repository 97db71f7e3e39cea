# Guest half of nvme_vfio_patch1.sh: nvme_vfio's, recorded with --patch-after=1.
VM_RECORD_ARGS=--patch-after=1
. /vm/nvme_vfio.guest.sh
