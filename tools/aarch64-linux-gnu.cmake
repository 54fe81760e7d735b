# Cross-compiling for aarch64 with Debian's gcc-aarch64-linux-gnu; tests run
# under qemu-aarch64 (tools/setup.sh --cross installs both and arm64 cmocka).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_LIBRARY_PATH /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
# No -L prefix: the multiarch libc6:arm64 (a dependency of libcmocka0:arm64)
# provides /lib/ld-linux-aarch64.so.1 and a libc that matches it. Pointing -L
# at the cross toolchain's older sysroot mixes its ld.so with the multiarch
# libc, and threaded programs then hang in pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
