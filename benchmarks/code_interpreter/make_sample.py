"""Builds the bundled code-interpreter sample (benchmarks/data/code_interpreter/) in the published format.

    python -m benchmarks.make_code_interpreter_sample   # rewrites tasks.jsonl and files/; a test checks they match

Each task has the published fields (`query`, `tags`, `lang`, `input_file_path`) plus `id` and
`reference_code`, a solution used by `--oracle`. Reference code needs only the standard library, numpy and
matplotlib. "Easy" visualization queries carry a first code round after `<|im_end|>`, as published.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

OUT = Path(__file__).parents[1] / "data" / "code_interpreter"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def sales_csv() -> str:
    lines = ["month,region,revenue,units"]
    for i, m in enumerate(MONTHS):
        lines.append(f"{m},North,{1200 + 85 * i + (i % 3) * 40},{30 + 2 * i}")
        lines.append(f"{m},South,{900 + 60 * i + ((i + 1) % 4) * 55},{25 + (i * 7) % 11}")
    return "\n".join(lines) + "\n"


def temperatures_csv() -> str:
    lines = ["date,city,temp_c"]
    for d in range(1, 15):
        lines.append(f"2024-03-{d:02d},Beijing,{round(6 + 5 * math.sin(d / 3), 1)}")
        lines.append(f"2024-03-{d:02d},Shanghai,{round(12 + 3 * math.cos(d / 4), 1)}")
    return "\n".join(lines) + "\n"


def students_csv() -> str:
    names = ["Ann", "Bo", "Chen", "Dara", "Eli", "Fang", "Gus", "Hana", "Ivo", "Jia", "Kai", "Lena"]
    lines = ["name,class,math,english,science"]
    for i, n in enumerate(names):
        lines.append(f"{n},{'AB'[i % 2]},{55 + (i * 17) % 45},{60 + (i * 11) % 38},{50 + (i * 23) % 49}")
    return "\n".join(lines) + "\n"


INVENTORY = [{"item": "pencil", "stock": 120}, {"item": "stapler", "stock": 8}, {"item": "notebook", "stock": 45},
             {"item": "marker", "stock": 3}, {"item": "scissors", "stock": 9}, {"item": "tape", "stock": 30}]
NOTES = ("The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.\n"
         "How vexingly quick daft zebras jump!\n")

LOAD_STUDENTS = "import csv\nrows = list(csv.DictReader(open('students.csv')))\nprint(rows[0])"
LOAD_SALES = "import csv\nrows = list(csv.DictReader(open('sales.csv')))\nprint(len(rows), rows[0])"
LOAD_TEMPS = "import csv\nrows = list(csv.DictReader(open('temperatures.csv')))\nprint(rows[:2])"


def easy(question: str, thought: str, code: str) -> str:
    """A query whose assistant turn already holds a first code round (the published "easy" level)."""
    return (f"{question}<|im_end|>\n<|im_start|>assistant\nThought: {thought}\nAction: code_interpreter\n"
            f"Action Input:\n```py\n{code}\n```")


# (id, tags, lang, files, query, reference code)
TASKS = [
    ("vis01", "visualization", "en", ["sales.csv"], "Draw a line chart of the monthly revenue of the North region.",
     LOAD_SALES + "\nimport matplotlib.pyplot as plt\nn = [r for r in rows if r['region'] == 'North']\n"
     "plt.plot([r['month'] for r in n], [int(r['revenue']) for r in n])\nplt.title('North revenue')\nplt.show()"),
    ("vis02", "visualization", "zh", ["sales.csv"], "根据文件画出每个地区全年总收入的柱状图。",
     LOAD_SALES + "\nimport matplotlib.pyplot as plt\ntot = {}\nfor r in rows:\n"
     "    tot[r['region']] = tot.get(r['region'], 0) + int(r['revenue'])\nplt.bar(list(tot), list(tot.values()))\n"
     "plt.show()"),
    ("vis03", "visualization", "en", ["temperatures.csv"],
     "Plot the daily temperature of Beijing and Shanghai on one line chart with a legend.",
     LOAD_TEMPS + "\nimport matplotlib.pyplot as plt\nfor c in ('Beijing', 'Shanghai'):\n"
     "    s = [r for r in rows if r['city'] == c]\n    plt.plot([r['date'][-2:] for r in s], "
     "[float(r['temp_c']) for r in s], label=c)\nplt.legend()\nplt.show()"),
    ("vis04", "visualization", "en", ["students.csv"], "Make a histogram of the math scores.",
     LOAD_STUDENTS + "\nimport matplotlib.pyplot as plt\nplt.hist([int(r['math']) for r in rows], bins=5)\nplt.show()"),
    ("vis05", "visualization", "zh", ["students.csv"], "用散点图展示数学成绩和科学成绩的关系。",
     LOAD_STUDENTS + "\nimport matplotlib.pyplot as plt\nplt.scatter([int(r['math']) for r in rows], "
     "[int(r['science']) for r in rows])\nplt.xlabel('math')\nplt.ylabel('science')\nplt.show()"),
    ("vis06", "visualization", "en", [], "Plot y = sin(x) and y = cos(x) for x from 0 to 2*pi on the same axes.",
     "import numpy as np\nimport matplotlib.pyplot as plt\nx = np.linspace(0, 2 * np.pi, 200)\n"
     "plt.plot(x, np.sin(x), label='sin')\nplt.plot(x, np.cos(x), label='cos')\nplt.legend()\nplt.show()"),
    ("vis07", "visualization", "zh", [], "画一个饼图，显示四个部门的预算占比：研发40%，市场25%，销售20%，行政15%。",
     "import matplotlib.pyplot as plt\nplt.pie([40, 25, 20, 15], labels=['R&D', 'Marketing', 'Sales', 'Admin'], "
     "autopct='%1.0f%%')\nplt.show()"),
    ("vis08", "visualization", "en", ["sales.csv"], "Draw a bar chart of the units sold per month in the South region.",
     LOAD_SALES + "\nimport matplotlib.pyplot as plt\ns = [r for r in rows if r['region'] == 'South']\n"
     "plt.bar([r['month'] for r in s], [int(r['units']) for r in s])\nplt.show()"),
    ("vis09", "visualization", "en", ["students.csv"],
     easy("Draw a box plot of the english scores of each class.", "I will load the file first.", LOAD_STUDENTS),
     "import matplotlib.pyplot as plt\nplt.boxplot([[int(r['english']) for r in rows if r['class'] == c] "
     "for c in 'AB'])\nplt.xticks([1, 2], ['A', 'B'])\nplt.show()"),
    ("vis10", "visualization", "zh", ["sales.csv"],
     easy("画出南北两个地区每月收入的对比折线图。", "先读取文件看看数据。", LOAD_SALES),
     "import matplotlib.pyplot as plt\nfor g in ('North', 'South'):\n    s = [r for r in rows if r['region'] == g]\n"
     "    plt.plot([r['month'] for r in s], [int(r['revenue']) for r in s], label=g)\nplt.legend()\nplt.show()"),
    ("vis11", "visualization", "en", ["temperatures.csv"],
     easy("Draw a bar chart of the average temperature of each city.", "Let me read the data.", LOAD_TEMPS),
     "import matplotlib.pyplot as plt\navg = {}\nfor c in ('Beijing', 'Shanghai'):\n"
     "    v = [float(r['temp_c']) for r in rows if r['city'] == c]\n    avg[c] = sum(v) / len(v)\n"
     "plt.bar(list(avg), list(avg.values()))\nplt.show()"),
    ("vis12", "visualization", "zh", ["students.csv"],
     easy("用柱状图画出每个学生的数学成绩。", "先读取学生成绩文件。", LOAD_STUDENTS),
     "import matplotlib.pyplot as plt\nplt.bar([r['name'] for r in rows], [int(r['math']) for r in rows])\nplt.show()"),
    ("gen01", "general", "en", ["sales.csv"], "How many rows does the file have, not counting the header?",
     "with open('sales.csv') as f:\n    print(sum(1 for _ in f) - 1)"),
    ("gen02", "general", "en", ["students.csv"], "Compute the average math score of each class.",
     LOAD_STUDENTS + "\nfor c in 'AB':\n    v = [int(r['math']) for r in rows if r['class'] == c]\n"
     "    print(c, sum(v) / len(v))"),
    ("gen03", "general", "zh", ["notes.txt"], "统计文件中一共有多少个单词。",
     "print(len(open('notes.txt').read().split()))"),
    ("gen04", "general", "en", ["inventory.json"], "List the items whose stock is below 10.",
     "import json\nprint([x['item'] for x in json.load(open('inventory.json')) if x['stock'] < 10])"),
    ("gen05", "general", "zh", ["temperatures.csv"], "把摄氏温度转换成华氏温度，并保存为temperatures_f.csv。",
     "import csv\nrows = list(csv.DictReader(open('temperatures.csv')))\n"
     "with open('temperatures_f.csv', 'w', newline='') as f:\n    w = csv.writer(f)\n"
     "    w.writerow(['date', 'city', 'temp_f'])\n    for r in rows:\n"
     "        w.writerow([r['date'], r['city'], round(float(r['temp_c']) * 9 / 5 + 32, 1)])\nprint('saved')"),
    ("gen06", "general", "en", ["sales.csv"], "Which month had the highest total revenue over both regions?",
     LOAD_SALES + "\ntot = {}\nfor r in rows:\n    tot[r['month']] = tot.get(r['month'], 0) + int(r['revenue'])\n"
     "print(max(tot, key=tot.get))"),
    ("gen07", "general", "en", [], "Generate the first 20 Fibonacci numbers.",
     "a, b = 0, 1\nout = []\nfor _ in range(20):\n    out.append(a)\n    a, b = b, a + b\nprint(out)"),
    ("gen08", "general", "zh", [], "计算1到100之间所有质数的和。",
     "print(sum(n for n in range(2, 101) if all(n % d for d in range(2, int(n ** 0.5) + 1))))"),
    ("gen09", "general", "en", ["students.csv"], "Find the student with the highest total score.",
     LOAD_STUDENTS + "\nbest = max(rows, key=lambda r: int(r['math']) + int(r['english']) + int(r['science']))\n"
     "print(best['name'])"),
    ("gen10", "general", "zh", ["inventory.json"], "把这个JSON文件转换成CSV文件inventory.csv。",
     "import csv, json\nitems = json.load(open('inventory.json'))\nwith open('inventory.csv', 'w', newline='') as f:\n"
     "    w = csv.DictWriter(f, fieldnames=['item', 'stock'])\n    w.writeheader()\n    w.writerows(items)\n"
     "print(open('inventory.csv').read())"),
]


def files() -> dict[str, str]:
    return {"sales.csv": sales_csv(), "temperatures.csv": temperatures_csv(), "students.csv": students_csv(),
            "inventory.json": json.dumps(INVENTORY, indent=1) + "\n", "notes.txt": NOTES}


def rows() -> list[dict]:
    return [{"id": i, "query": q, "tags": tags, "lang": lang, "input_file_path": [f"files/{f}" for f in fs],
             "reference_code": code} for i, tags, lang, fs, q, code in TASKS]


def render() -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows())


def main() -> None:
    (OUT / "files").mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (OUT / "files" / name).write_text(text, encoding="utf-8")
    (OUT / "tasks.jsonl").write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
