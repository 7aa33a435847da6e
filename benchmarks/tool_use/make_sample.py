"""Builds the bundled tool-use sample (benchmarks/data/tool_use/*.jsonl) in the published format.

    python -m benchmarks.make_tool_use_sample        # rewrites the two files; a test checks they match

The tools are invented for this sample; prompts are Qwen's ReAct prompt (`qwen_agent.prompts.react`), each
case offering two to five candidate tools. References are the ReAct text a correct model writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from qwen_agent import ToolSpec
from qwen_agent.prompts.react import react_prompt

OUT = Path(__file__).parents[1] / "data" / "tool_use"


def _spec(name: str, human: str, desc: str, params: dict[str, str], required: list[str]) -> ToolSpec:
    props = {k: {"type": "string", "description": v} for k, v in params.items()}
    return ToolSpec(name=name, name_for_human=human, description=desc,
                    parameters={"type": "object", "properties": props, "required": required})


TOOLS = {
    "weather_forecast": _spec("weather_forecast", "天气预报", "查询某个城市某一天的天气预报。",
                              {"city": "城市名称", "date": "日期，例如 今天、明天 或 2024-05-01"}, ["city"]),
    "flight_search": _spec("flight_search", "Flight Search", "Find scheduled flights between two cities on a date.",
                           {"origin": "departure city", "destination": "arrival city", "date": "travel date"},
                           ["origin", "destination"]),
    "currency_convert": _spec("currency_convert", "汇率换算", "按当日汇率把一种货币的金额换算成另一种货币。",
                              {"amount": "金额", "source": "原货币代码，如 CNY", "target": "目标货币代码，如 USD"},
                              ["amount", "source", "target"]),
    "table_booking": _spec("table_booking", "Table Booking", "Reserve a table at a restaurant.",
                           {"restaurant": "restaurant name", "time": "date and time", "people": "party size"},
                           ["restaurant", "time", "people"]),
    "stock_quote": _spec("stock_quote", "股票行情", "获取一只股票的最新价格和涨跌幅。",
                         {"symbol": "股票代码或名称"}, ["symbol"]),
    "parcel_tracker": _spec("parcel_tracker", "Parcel Tracker", "Show where a parcel is, given its tracking number.",
                            {"tracking_number": "the tracking number", "carrier": "delivery company"},
                            ["tracking_number"]),
    "translate_text": _spec("translate_text", "文本翻译", "把一段文字翻译成指定语言。",
                            {"text": "要翻译的文字", "target_language": "目标语言"}, ["text", "target_language"]),
}

# (lang, tool names offered, question, expected tool, arguments, thought)
POSITIVE = [
    ("zh", ["weather_forecast", "stock_quote"], "北京明天天气怎么样？", "weather_forecast",
     {"city": "北京", "date": "明天"}, "用户想知道北京明天的天气，我应该调用天气预报工具。"),
    ("zh", ["weather_forecast", "translate_text", "currency_convert"], "帮我查一下上海2024-05-01的天气。",
     "weather_forecast", {"city": "上海", "date": "2024-05-01"}, "需要查询上海在指定日期的天气。"),
    ("zh", ["weather_forecast", "flight_search"], "杭州今天会下雨吗？", "weather_forecast",
     {"city": "杭州", "date": "今天"}, "要判断杭州今天是否下雨，需要天气预报。"),
    ("zh", ["currency_convert", "stock_quote"], "100美元能换多少人民币？", "currency_convert",
     {"amount": "100", "source": "USD", "target": "CNY"}, "这是汇率换算问题。"),
    ("zh", ["currency_convert", "weather_forecast", "parcel_tracker"], "把5000日元换算成人民币。", "currency_convert",
     {"amount": "5000", "source": "JPY", "target": "CNY"}, "需要把日元换算成人民币。"),
    ("zh", ["currency_convert", "translate_text"], "2000元人民币等于多少欧元？", "currency_convert",
     {"amount": "2000", "source": "CNY", "target": "EUR"}, "用户要做人民币到欧元的换算。"),
    ("zh", ["stock_quote", "currency_convert"], "贵州茅台现在股价多少？", "stock_quote",
     {"symbol": "贵州茅台"}, "需要查询贵州茅台的最新股价。"),
    ("zh", ["stock_quote", "weather_forecast", "translate_text"], "600519今天涨了还是跌了？", "stock_quote",
     {"symbol": "600519"}, "查询这只股票的涨跌幅。"),
    ("zh", ["stock_quote", "table_booking"], "看看阿里巴巴的股票行情。", "stock_quote",
     {"symbol": "阿里巴巴"}, "用户想看阿里巴巴的行情。"),
    ("zh", ["translate_text", "weather_forecast"], "把“今天天气很好”翻译成英文。", "translate_text",
     {"text": "今天天气很好", "target_language": "英文"}, "这是一个翻译请求。"),
    ("zh", ["translate_text", "currency_convert", "stock_quote"], "“谢谢你的帮助”用日语怎么说？", "translate_text",
     {"text": "谢谢你的帮助", "target_language": "日语"}, "需要把这句话翻译成日语。"),
    ("zh", ["translate_text", "parcel_tracker"], "请把“欢迎光临”翻译成法语。", "translate_text",
     {"text": "欢迎光临", "target_language": "法语"}, "用户需要法语翻译。"),
    ("zh", ["parcel_tracker", "weather_forecast"], "我的快递SF1234567890到哪了？", "parcel_tracker",
     {"tracking_number": "SF1234567890"}, "需要根据单号查询快递位置。"),
    ("zh", ["flight_search", "weather_forecast", "currency_convert"], "查一下下周五从北京飞成都的航班。",
     "flight_search", {"origin": "北京", "destination": "成都", "date": "下周五"}, "用户要查询航班。"),
    ("zh", ["table_booking", "weather_forecast"], "帮我在海底捞订今晚7点4个人的位子。", "table_booking",
     {"restaurant": "海底捞", "time": "今晚7点", "people": "4"}, "这是餐厅订位请求。"),
    ("zh", ["weather_forecast", "stock_quote", "translate_text", "currency_convert", "parcel_tracker"],
     "广州后天气温多少度？", "weather_forecast", {"city": "广州", "date": "后天"}, "需要查广州后天的天气预报。"),
    ("en", ["flight_search", "weather_forecast"], "Find me flights from London to Paris on 2024-06-10.",
     "flight_search", {"origin": "London", "destination": "Paris", "date": "2024-06-10"},
     "The user wants flights, so I should search for them."),
    ("en", ["flight_search", "table_booking", "stock_quote"], "Are there any flights from Boston to Chicago tomorrow?",
     "flight_search", {"origin": "Boston", "destination": "Chicago", "date": "tomorrow"}, "I need to search flights."),
    ("en", ["flight_search", "currency_convert"], "What flights go from Tokyo to Seoul next Monday?",
     "flight_search", {"origin": "Tokyo", "destination": "Seoul", "date": "next Monday"}, "A flight search is needed."),
    ("en", ["table_booking", "weather_forecast"], "Book a table for 2 at Luigi's at 8pm tonight.", "table_booking",
     {"restaurant": "Luigi's", "time": "8pm tonight", "people": "2"}, "The user wants a restaurant reservation."),
    ("en", ["table_booking", "flight_search", "parcel_tracker"], "Reserve a table for six at The Ivy on Saturday at 1pm.",
     "table_booking", {"restaurant": "The Ivy", "time": "Saturday 1pm", "people": "6"}, "I should book the table."),
    ("en", ["table_booking", "translate_text"], "Can you get us a table at Nobu for 3 people tomorrow at 7:30pm?",
     "table_booking", {"restaurant": "Nobu", "time": "tomorrow 7:30pm", "people": "3"}, "This is a booking request."),
    ("en", ["parcel_tracker", "flight_search"], "Where is my parcel 1Z999AA10123456784?", "parcel_tracker",
     {"tracking_number": "1Z999AA10123456784"}, "I need to track the parcel."),
    ("en", ["parcel_tracker", "stock_quote", "weather_forecast"], "Track DHL shipment 4829103345 please.",
     "parcel_tracker", {"tracking_number": "4829103345", "carrier": "DHL"}, "Tracking a DHL parcel."),
    ("en", ["parcel_tracker", "table_booking"], "Has my FedEx package 772899103321 been delivered yet?",
     "parcel_tracker", {"tracking_number": "772899103321", "carrier": "FedEx"}, "I should check the parcel status."),
    ("en", ["weather_forecast", "flight_search"], "What's the weather in Berlin tomorrow?", "weather_forecast",
     {"city": "Berlin", "date": "tomorrow"}, "The user asks about tomorrow's weather in Berlin."),
    ("en", ["stock_quote", "currency_convert"], "What is Apple's stock price right now?", "stock_quote",
     {"symbol": "AAPL"}, "I need the current AAPL quote."),
    ("en", ["currency_convert", "stock_quote", "flight_search"], "Convert 250 euros to US dollars.", "currency_convert",
     {"amount": "250", "source": "EUR", "target": "USD"}, "This is a currency conversion."),
    ("en", ["translate_text", "parcel_tracker"], "Translate 'good morning' into Spanish.", "translate_text",
     {"text": "good morning", "target_language": "Spanish"}, "The user wants a translation."),
    ("en", ["translate_text", "table_booking", "weather_forecast", "stock_quote"],
     "How do you say 'where is the station' in German?", "translate_text",
     {"text": "where is the station", "target_language": "German"}, "I should translate the sentence."),
    ("en", ["stock_quote", "weather_forecast", "flight_search", "table_booking", "parcel_tracker"],
     "How is NVDA trading today?", "stock_quote", {"symbol": "NVDA"}, "I need a quote for NVDA."),
    ("en", ["currency_convert", "translate_text"], "How many Japanese yen is 40 British pounds?", "currency_convert",
     {"amount": "40", "source": "GBP", "target": "JPY"}, "A GBP to JPY conversion is needed."),
]

# (lang, tool names offered, question, answer): questions no offered tool helps with
NEGATIVE = [
    ("zh", ["weather_forecast", "stock_quote"], "你好，你是谁？", "你好！我是一个人工智能助手。"),
    ("zh", ["currency_convert", "translate_text"], "1加1等于几？", "1加1等于2。"),
    ("zh", ["flight_search", "weather_forecast"], "给我讲一个关于猫的笑话。", "猫为什么不玩扑克？因为怕遇到猎豹（cheetah）。"),
    ("zh", ["stock_quote", "parcel_tracker"], "李白是哪个朝代的诗人？", "李白是唐代诗人。"),
    ("zh", ["translate_text", "table_booking"], "写一句鼓励考生的话。", "沉着冷静，相信自己，你一定能行！"),
    ("zh", ["weather_forecast", "currency_convert", "stock_quote"], "水的化学式是什么？", "水的化学式是H2O。"),
    ("zh", ["parcel_tracker", "flight_search"], "推荐三本入门编程的书。", "《Python编程：从入门到实践》《笨办法学Python》《计算机科学导论》。"),
    ("zh", ["table_booking", "weather_forecast"], "一年有多少个月？", "一年有12个月。"),
    ("zh", ["stock_quote", "translate_text", "currency_convert"], "请用一句话介绍长城。", "长城是中国古代修建的宏伟防御工程。"),
    ("zh", ["flight_search", "parcel_tracker"], "谢谢你，再见！", "不客气，再见！"),
    ("en", ["flight_search", "table_booking"], "Hi there! How are you?", "I'm doing well, thank you for asking!"),
    ("en", ["weather_forecast", "stock_quote"], "What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("en", ["currency_convert", "parcel_tracker"], "Write a haiku about autumn.",
     "Crisp leaves drift and fall / amber light on quiet paths / the year exhales slow."),
    ("en", ["translate_text", "flight_search"], "What is 12 times 12?", "12 times 12 is 144."),
    ("en", ["table_booking", "stock_quote", "weather_forecast"], "Explain what a prime number is.",
     "A prime number is a whole number greater than 1 whose only divisors are 1 and itself."),
    ("en", ["parcel_tracker", "currency_convert"], "Who wrote 'Pride and Prejudice'?", "Jane Austen wrote it."),
    ("en", ["weather_forecast", "translate_text"], "Give me a synonym for 'happy'.", "A synonym for 'happy' is 'joyful'."),
    ("en", ["stock_quote", "flight_search"], "How many legs does a spider have?", "A spider has eight legs."),
    ("en", ["currency_convert", "table_booking", "parcel_tracker"], "Thanks, that's all for today.",
     "You're welcome! Have a great day."),
    ("en", ["flight_search", "weather_forecast", "stock_quote", "translate_text"], "Summarise the plot of Cinderella in one sentence.",
     "A kind young woman, helped by her fairy godmother, attends a royal ball and wins the prince's heart."),
]

FINAL_THOUGHT = {"zh": "这个问题不需要使用工具，我可以直接回答。", "en": "I can answer this directly without a tool."}


def positive_rows() -> list[dict[str, str]]:
    rows = []
    for i, (lang, names, question, tool, args, thought) in enumerate(POSITIVE, 1):
        prompt = react_prompt(question, [TOOLS[n] for n in names], lang)
        response = f"Thought: {thought}\nAction: {tool}\nAction Input: {json.dumps(args, ensure_ascii=False)}"
        rows.append({"id": f"p{i:02d}", "lang": lang, "prompt": prompt, "response": response})
    return rows


def negative_rows() -> list[dict[str, str]]:
    rows = []
    for i, (lang, names, question, answer) in enumerate(NEGATIVE, 1):
        prompt = react_prompt(question, [TOOLS[n] for n in names], lang)
        response = f"Thought: {FINAL_THOUGHT[lang]}\nFinal Answer: {answer}"
        rows.append({"id": f"n{i:02d}", "lang": lang, "prompt": prompt, "response": response})
    return rows


def render(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "positive.jsonl").write_text(render(positive_rows()), encoding="utf-8")
    (OUT / "negative.jsonl").write_text(render(negative_rows()), encoding="utf-8")


if __name__ == "__main__":
    main()
