{
  "variables": {
    "sse42_source_count": "<!(node gyp-sources.js sse42-count)",
    "avx_source_count": "<!(node gyp-sources.js avx-count)",
    "avx2_source_count": "<!(node gyp-sources.js avx2-count)",
    "avxvnni_source_count": "<!(node gyp-sources.js avxvnni-count)",
    "avx512_source_count": "<!(node gyp-sources.js avx512-count)",
    "neondot_source_count": "<!(node gyp-sources.js neondot-count)",
    "common_cflags": ["-O3", "-ffp-contract=off", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
  },
  "targets": [
    {
      "target_name": "smallthinker",
      "sources": ["<!@(node gyp-sources.js main)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "Optimization": 2 } },
      "conditions": [
        ["target_arch=='x64' and sse42_source_count!='0'", { "dependencies": ["smallthinker_sse42"] }],
        ["target_arch=='x64' and avx_source_count!='0'", { "dependencies": ["smallthinker_avx"] }],
        ["target_arch=='x64' and avx2_source_count!='0'", { "dependencies": ["smallthinker_avx2"] }],
        ["target_arch=='x64' and avxvnni_source_count!='0'", { "dependencies": ["smallthinker_avxvnni"] }],
        ["target_arch=='x64' and avx512_source_count!='0'", { "dependencies": ["smallthinker_avx512"] }],
        ["target_arch=='arm64' and OS!='mac' and neondot_source_count!='0'", { "dependencies": ["smallthinker_neondot"] }]
      ]
    },
    {
      "target_name": "smallthinker_avx512",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js avx512)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"] },
      "msvs_settings": { "VCCLCompilerTool": { "EnableEnhancedInstructionSet": 5 } },
      "conditions": [["target_arch!='x64' or avx512_source_count=='0'", { "type": "none" }]]
    },
    {
      "target_name": "smallthinker_avxvnni",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js avxvnni)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-mavxvnni", "-mavx2", "-mfma", "-mf16c", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-mavxvnni", "-mavx2", "-mfma", "-mf16c"] },
      "msvs_settings": { "VCCLCompilerTool": { "EnableEnhancedInstructionSet": 5 } },
      "conditions": [["target_arch!='x64' or avxvnni_source_count=='0'", { "type": "none" }]]
    },
    {
      "target_name": "smallthinker_avx2",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js avx2)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-mavx2", "-mfma", "-mf16c", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-mavx2", "-mfma", "-mf16c"] },
      "msvs_settings": { "VCCLCompilerTool": { "EnableEnhancedInstructionSet": 5 } },
      "conditions": [["target_arch!='x64' or avx2_source_count=='0'", { "type": "none" }]]
    },
    {
      "target_name": "smallthinker_sse42",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js sse42)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-mssse3", "-msse4.1", "-msse4.2", "-mpopcnt", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-mssse3", "-msse4.1", "-msse4.2", "-mpopcnt"] },
      "conditions": [["target_arch!='x64' or sse42_source_count=='0'", { "type": "none" }]]
    },
    {
      "target_name": "smallthinker_avx",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js avx)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-mssse3", "-msse4.1", "-msse4.2", "-mpopcnt", "-mavx", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-mssse3", "-msse4.1", "-msse4.2", "-mpopcnt", "-mavx"] },
      "conditions": [["target_arch!='x64' or avx_source_count=='0'", { "type": "none" }]]
    },
    {
      "target_name": "smallthinker_neondot",
      "type": "static_library",
      "sources": ["<!@(node gyp-sources.js neondot)"],
      "include_dirs": ["src"],
      "cflags_cc": ["-std=c++17", "<@(common_cflags)", "-march=armv8.2-a+dotprod", "-fPIC"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "conditions": [["target_arch!='arm64' or OS=='mac' or neondot_source_count=='0'", { "type": "none" }]]
    }
  ]
}
