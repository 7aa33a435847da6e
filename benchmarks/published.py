"""PUBLISHED FIGURES, carried as data so a run can be shown beside them. Not measured here.

Source: the README of QwenLM/Qwen (Qwen-1), section "Tool Usage", tables "Chinese Tool-Use Benchmark (Version
20231206)" and "Code Interpreter Benchmark (Version 20231206)"; the code-interpreter table is repeated in
QwenLM/Qwen-Agent `benchmark/README.md`. Values are copied as printed there (percentages as percent numbers,
Rouge-L as a 0-1 number). `None` marks a cell not published.

Known discrepancies between the two READMEs, and which value is carried:
- ChatGLM3-6B visualization (Qwen README 4.8 / 15.2; Qwen-Agent README 15.5 / 21.5): all four fit the case
  counts (4/84, 12/79; 13/84, 17/79), so the Qwen README's are kept.
- ChatGLM3-6B General (67.1 vs 62.1) and InternLM-20B-Chat Visualization-Easy (25.1 vs 24.1): every other cell
  is a whole number of cases over the published denominators (math 1,319, vis-hard 84, vis-easy 79, general
  58); only 62.1 (36/58) and 24.1 (19/79) are attainable (39/58 = 67.2, 20/79 = 25.3), so those are carried.
"""

from __future__ import annotations

# model -> (tool selection %, tool input Rouge-L 0-1, false positive error %)
TOOL_USE_20231206: dict[str, tuple[float, float, float]] = {
    "GPT-4": (98.0, 0.953, 23.9),
    "GPT-3.5": (74.5, 0.807, 80.6),
    "Qwen-1_8B-Chat": (85.0, 0.839, 27.6),
    "Qwen-7B-Chat": (95.5, 0.900, 11.6),
    "Qwen-14B-Chat": (96.9, 0.917, 5.6),
    "Qwen-72B-Chat": (98.2, 0.927, 1.1),
}

# model -> (math %, visualization-hard %, visualization-easy %, general executable rate %)
CODE_INTERPRETER_20231206: dict[str, tuple[float, float, float, float]] = {
    "GPT-4": (82.8, 66.7, 60.8, 82.8),
    "GPT-3.5": (47.3, 33.3, 55.7, 74.1),
    "LLaMA2-13B-Chat": (8.3, 1.2, 15.2, 48.3),
    "CodeLLaMA-13B-Instruct": (28.2, 15.5, 21.5, 74.1),
    "InternLM-20B-Chat": (34.6, 10.7, 24.1, 65.5),
    "ChatGLM3-6B": (54.2, 4.8, 15.2, 62.1),
    "Qwen-1.8B-Chat": (25.6, 21.4, 22.8, 65.5),
    "Qwen-7B-Chat": (41.9, 23.8, 38.0, 67.2),
    "Qwen-14B-Chat": (58.4, 31.0, 45.6, 65.5),
    "Qwen-72B-Chat": (72.7, 41.7, 43.0, 82.8),
}

SOURCE = "QwenLM/Qwen README, Tool Usage section (benchmark version 20231206)"
