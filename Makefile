# Thin wrapper around meson so a fresh Debian 12 machine needs two commands:
#   make demo    install what is missing, build, run xarch's main job
#   make check   install what is missing, build, run every test
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON ?= meson

# Debian packages: build, runtime, and the tools the tests use as oracles.
DEPS_BUILD = gcc make meson ninja-build pkg-config libjson-c-dev zlib1g-dev \
	libarchive-dev libzstd-dev liblz4-dev libacl1-dev libxml2-dev libicu-dev \
	libbz2-dev liblzma-dev nettle-dev libconfuse-dev libssl-dev libext2fs-dev comerr-dev
DEPS_RUN = qemu-user-static uidmap util-linux mmdebstrap arch-test e2fsprogs dosfstools mtools \
	fdisk qemu-utils qemu-system-misc opensbi u-boot-qemu curl
DEPS_TEST = gcc-riscv64-linux-gnu libc6-dev-riscv64-cross \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
	gcc-mips-linux-gnu libc6-dev-mips-cross \
	binutils-multiarch passwd python3 mmdebstrap arch-test dnf rpm createrepo-c curl tar xz-utils zstd skopeo umoci docker-registry \
	fdisk genimage e2fsprogs dosfstools mtools bmap-tools android-sdk-libsparse-utils \
	squashfs-tools erofs-utils cpio qemu-utils podman \
	qemu-system-misc qemu-system-arm opensbi u-boot-qemu qemu-efi-aarch64

.PHONY: all build deps deps-run demo demo-hello check check-asan clean static

all: build

deps:
	@tests/install-deps.sh $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_TEST)

deps-run:
	@tests/install-deps.sh $(DEPS_BUILD) $(DEPS_RUN) gcc-riscv64-linux-gnu \
		libc6-dev-riscv64-cross gcc-aarch64-linux-gnu libc6-dev-arm64-cross

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

static:
	$(MESON) setup build-static -Dstatic=true -Dbuildtype=release
	ninja -C build-static

# the main job: a Debian riscv64 board image from examples/debian-riscv64-virt, booted to login:
demo: deps-run build
	@examples/main-job.sh $(BUILD)/xarch

# the quick tour: foreign binaries explained and run (private binfmt_misc)
demo-hello: deps-run build
	@examples/demo.sh $(BUILD)/xarch

check: deps build
	@[ -f $(ASAN_BUILD)/build.ninja ] || $(MESON) setup $(ASAN_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false -Dstatic=false >/dev/null
	@ninja -C $(ASAN_BUILD) >/dev/null
	@tests/run.sh $(BUILD) $(ASAN_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-static
