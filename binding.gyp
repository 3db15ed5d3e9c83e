{
  "targets": [
    {
      "target_name": "resnext_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/conv_dnnl.cc",
        "native/src/cpu.cc",
        "native/src/dispatch.cc",
        "native/src/gemm.cc",
        "native/src/layout.cc",
        "native/src/packed_weights.cc",
        "native/src/variants/avx2.cc",
        "native/src/variants/avx512.cc",
        "native/src/variants/portable.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fopenmp",
        "-fno-math-errno",
        "-ffp-contract=off",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter"
      ],
      "libraries": [
        "-ldnnl",
        "-fopenmp"
      ]
    },
    {
      "target_name": "grouped_lanes_check",
      "type": "executable",
      "sources": [
        "native/test/grouped_lanes_check.cc",
        "native/src/cpu.cc"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fopenmp",
        "-fno-math-errno",
        "-ffp-contract=off",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-psabi"
      ],
      "libraries": [
        "-ldnnl",
        "-fopenmp"
      ]
    },
    {
      "target_name": "resnext_mpi",
      "sources": [
        "native/src/mpi.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter"
      ],
      "conditions": [
        [
          "have_mpi==1",
          {
            "defines": [
              "RESNEXT_HAVE_MPI", "OMPI_SKIP_MPICXX"
            ],
            "cflags_cc": [
              "<!@(pkg-config --cflags ompi-c 2>/dev/null || true)"
            ],
            "libraries": [
              "<!@(pkg-config --libs ompi-c 2>/dev/null || true)",
              "-ldl"
            ]
          }
        ]
      ]
    }
  ],
  "variables": {
    "have_mpi": "<!(pkg-config --exists ompi-c && echo 1 || echo 0)"
  }
}
