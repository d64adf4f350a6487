# Built by scripts/setup.sh with npm's bundled node-gyp 12 against the system Node headers:
#   node .../node-gyp.js rebuild --nodedir=/usr
# Output: build/Release/paddock_native.node and build/Release/*.bpf.o (eBPF objects).
{
  "targets": [
    {
      "target_name": "paddock_native",
      "sources": ["src/addon.cc", "src/socket.cc", "src/bpf.cc", "src/clock.cc", "src/sandbox.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++20", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      "dependencies": ["bpf_objects"]
    },
    {
      # The eBPF programs, compiled at build time (clang -target bpf). The multiarch include
      # directory provides <asm/types.h> for the kernel UAPI headers.
      "target_name": "bpf_objects",
      "type": "none",
      "actions": [
        {
          "action_name": "dhcp_filter",
          "inputs": ["bpf/dhcp_filter.bpf.c", "bpf/udp4.h"],
          "outputs": ["<(PRODUCT_DIR)/dhcp_filter.bpf.o"],
          "action": ["clang", "-O2", "-g", "-target", "bpf", "-Wall", "-I/usr/include/<!(gcc -print-multiarch)",
                     "-c", "bpf/dhcp_filter.bpf.c", "-o", "<(PRODUCT_DIR)/dhcp_filter.bpf.o"]
        },
        {
          "action_name": "egress_policy",
          "inputs": ["bpf/egress_policy.bpf.c", "bpf/udp4.h"],
          "outputs": ["<(PRODUCT_DIR)/egress_policy.bpf.o"],
          "action": ["clang", "-O2", "-g", "-target", "bpf", "-Wall", "-I/usr/include/<!(gcc -print-multiarch)",
                     "-c", "bpf/egress_policy.bpf.c", "-o", "<(PRODUCT_DIR)/egress_policy.bpf.o"]
        }
      ]
    }
  ]
}
