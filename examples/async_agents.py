"""Many agents at once in one event loop (web handlers, a notebook): `await agent.arun(...)`.

The agents share one model client; their HTTP requests overlap. When a turn asks for several tools, they run
at the same time (async tools awaited, blocking ones in threads), each under `tool_timeout`, and the results
go back to the model in call order.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/async_agents.py
"""

import asyncio

from qwen_agent import Agent, tool
from qwen_agent.settings import Settings

POPULATION = {"hangzhou": 12_000_000, "beijing": 21_000_000, "shanghai": 24_000_000}
AREA_KM2 = {"hangzhou": 16_000, "beijing": 16_800, "shanghai": 6_000}


@tool
async def population(city: str) -> int:
    """Number of people living in a city."""
    await asyncio.sleep(0.1)  # stands for an async HTTP lookup
    return POPULATION.get(city.lower(), 0)


@tool
def area_km2(city: str) -> int:
    """Area of a city in square kilometres."""
    return AREA_KM2.get(city.lower(), 0)  # a blocking lookup: it runs in a worker thread


async def main() -> None:
    llm = Settings.from_env().make_llm()  # QWEN_AGENT_* environment variables
    cities = ["Hangzhou", "Beijing", "Shanghai"]
    try:
        answers = await asyncio.gather(*(
            Agent(llm=llm, tools=[population, area_km2], tool_timeout=30).arun(
                f"How many people per square kilometre live in {city}?")
            for city in cities))
    finally:
        await llm.aclose()
    for city, answer in zip(cities, answers, strict=True):
        print(f"{city}: {answer}")


if __name__ == "__main__":
    asyncio.run(main())
