"""``zh-shop``: a **synthetic** bilingual Chinese shop (generated products, simulated shoppers).

Nothing here is real shop data: the products are composed by this module from word lists, and the
events come from simulated shoppers. It is deterministic for a given seed, needs no download and
builds in well under a second. Use it to exercise Chinese text, cold items and a purchase funnel;
never quote its numbers as results on real shoppers (:data:`SYNTHETIC_NOTE` says so for the CLI).

**Catalog** (:func:`zh_catalog`): 15 categories × 24 products = 360 products. Each category has
product kinds (跑步鞋, 保温杯, 耳机, ...) and parallel Chinese/English word lists: invented
brand names, features per kind, audiences, materials, highlights, variants (colour, flavour, skin
type, ...), uses and specs (capacity, size, weight). A product is one seeded draw of these parts;
no two products of a category have the same brand, kind, feature, audience and spec, so titles are
unique and products of a category share some parts but not all:

* title: ``"跃步 轻便透气男士跑步鞋"``, ``"暖居 316不锈钢真空保温杯 500毫升"``;
* description: ``"采用{material}，{highlight}。{variant}，适合{use}。"``;
* price in CNY from the kind's price range (bigger specs cost more), ending in 9 or .9;
* attributes JSON: ``product_type`` (the kind's Chinese noun), 品牌, the variant (颜色, 口味, ...),
  and 适用人群/规格/材质 where the product has them; about 93% of products are in stock.

Every Chinese part has an English twin, so a seeded third of the products (8 per category, 120 in
all) also has an English title and description composed from the same parts: a faithful
translation of that product (:func:`zh_translations`).

**New products**: a seeded 15% (54) are launched inside the last quarter of the period; their
``updated_at`` is the launch time and no event touches them before it, so a time split has cold
items that only their text can recommend. The other products' ``updated_at`` is 7–365 days before
the period starts.

**Shoppers** (:func:`zh_shop`): users ``u0001``... each have hidden preferences: 1–3 favourite
categories with Dirichlet weights (some categories draw more shoppers), a 10% chance per pick of
browsing another category, and a price sensitivity ``s`` in [0, 1] (Beta(2, 2)) that tilts views,
carts and purchases toward cheaper items (weight ``(price / category median) ** (-1.5 s)``). Items
have Zipf-like popularity within their category, and new items get a novelty boost once launched.
Shoppers arrive uniformly over ``days`` days from 2026-09-01 00:00 Asia/Shanghai (UTC+8, Unix
seconds) and return for 1 + Poisson(3) sessions, about four days apart; a session starts at an hour
drawn from a daily rhythm peaking at 21:00. A session has Geometric views (at least 1, mean 5, at
most 30), 20–180 s apart, rarely the same item twice: 30% of views are of an item similar to the
last one (same category, weighted by shared kind, feature, brand and audience), the rest come from
the shopper's preferences; 30% of views follow a ``click`` on the item's listing. A view leads to
``add_to_cart`` (once per item and session) with about 10% probability (less outside the favourite
categories and for price-sensitive shoppers on dear items), and at the session's end about 40% of
carted items are bought (``purchase``), so purchases are about 4% of views. Session ids are
``"<user_id>-s<k>"``; events after the period are dropped; the frame is sorted by ``(user_id, ts)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from recsys.errors import InvalidInputError

SYNTHETIC_NOTE = (
    "zh-shop is synthetic: generated products and simulated shoppers, not a real shop's data"
)

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving time since 1991
START = datetime(2026, 9, 1, tzinfo=SHANGHAI)
START_TS = START.timestamp()  # 1_788_192_000.0: 2026-09-01 00:00 Asia/Shanghai
DAY = 86_400.0

PRODUCTS_PER_CATEGORY = 24  # × 15 categories = 360 products
TRANSLATED_PER_CATEGORY = 8  # a third of each category gets an English translation
NEW_SHARE = 0.15  # products launched inside the last quarter of the period
NEW_WINDOW = (0.76, 0.94)  # launch times, as fractions of the period
IN_STOCK_SHARE = 0.93

# shopper model (see the module docstring)
EXPLORE = 0.10  # chance that a pick comes from a non-favourite category
SIMILAR = 0.30  # chance that a view is of an item similar to the previous one
CLICK_FIRST = 0.30  # chance that a view follows a click on the item's listing
CART = 0.10  # base chance that a view of a favourite-category item is added to the cart
CART_EXPLORE = 0.5  # cart chance multiplier outside the favourite categories
BUY = 0.40  # base chance that a carted item is bought at the end of the session
SESSIONS_MEAN = 3.0  # sessions per shopper: 1 + Poisson(SESSIONS_MEAN)
SESSION_GAP_DAYS = 4.0  # mean days between a shopper's sessions (exponential)
VIEWS_MEAN = 5.0  # views per session (geometric)
ZIPF = 0.9  # exponent of the popularity ranks within a category
NOVELTY = 2.5  # popularity multiplier of a product launched inside the period
# relative chance that a session starts in each hour of the day (local time): peak 21:00
HOUR_WEIGHTS = (
    0.6, 0.3, 0.15, 0.1, 0.1, 0.15, 0.3, 0.7, 1.1, 1.3, 1.4, 1.5,
    1.8, 1.6, 1.4, 1.4, 1.5, 1.7, 2.0, 2.6, 3.2, 3.5, 3.0, 1.6,
)  # fmt: skip


@dataclass(frozen=True)
class Term:
    """One piece of product text in Chinese and its English translation."""

    zh: str
    en: str


def _t(pair: str) -> Term:
    zh, en = pair.split("|")
    return Term(zh, en)


def _ts(*pairs: str) -> tuple[Term, ...]:
    return tuple(_t(p) for p in pairs)


NO_TERM = Term("", "")


@dataclass(frozen=True)
class Kind:
    """A kind of product within a category; empty parts fall back to the category's."""

    name: Term  # the product noun: 跑步鞋 | running shoes
    price: tuple[float, float]  # typical price range in CNY
    features: tuple[Term, ...]  # title adjectives, one per product
    specs: tuple[Term, ...] = ()  # size/capacity shown after the title, smallest first
    uses: tuple[Term, ...] = ()
    materials: tuple[Term, ...] = ()
    feature_materials: tuple[Term, ...] = ()  # one material per feature (overrides materials)
    highlights: tuple[Term, ...] = ()
    audiences: tuple[Term, ...] = ()
    variants: tuple[Term, ...] = ()
    variant_key: Term | None = None
    variant_fmt: Term | None = None


@dataclass(frozen=True)
class Category:
    """A shop category: its kinds and the word lists its products are composed from."""

    name: Term
    brands: tuple[Term, ...]  # invented brand names
    kinds: tuple[Kind, ...]
    materials: tuple[Term, ...] = ()
    highlights: tuple[Term, ...] = ()
    uses: tuple[Term, ...] = ()
    audiences: tuple[Term, ...] = (NO_TERM,)
    variants: tuple[Term, ...] = ()
    variant_key: Term = Term("颜色", "colour")
    variant_fmt: Term = Term("{}款", "in {}")  # how the variant reads in the description


CATEGORIES: tuple[Category, ...] = (
    Category(
        name=_t("运动鞋|Sports Shoes"),
        brands=_ts("跃步|Yuebu", "疾风|Jifeng", "踏云|Tayun", "飞驰|Feichi"),
        audiences=_ts("男士|men's", "女士|women's", "中性|unisex"),
        variants=_ts("黑色|black", "白色|white", "灰蓝色|grey-blue", "荧光绿|neon green"),
        materials=_ts(
            "透气网布鞋面|breathable mesh uppers",
            "飞织一体鞋面|one-piece knit uppers",
            "超纤皮革鞋面|microfibre leather uppers",
        ),
        highlights=_ts(
            "鞋底回弹有力|the soles are springy and responsive",
            "脚感柔软、包裹性好|they feel soft and fit snugly",
            "鞋头加固更耐磨|reinforced toes make them more durable",
            "橡胶大底抓地力强|the rubber outsoles grip well",
        ),
        kinds=(
            Kind(
                _t("跑步鞋|running shoes"),
                (199, 699),
                _ts(
                    "轻便透气|lightweight breathable",
                    "缓震回弹|cushioned responsive",
                    "碳板竞速|carbon-plate racing",
                    "防滑耐磨|non-slip hard-wearing",
                ),
                uses=_ts(
                    "日常慢跑和健身训练|everyday jogging and gym workouts",
                    "马拉松和长距离训练|marathons and long-distance training",
                ),
            ),
            Kind(
                _t("篮球鞋|basketball shoes"),
                (299, 899),
                _ts(
                    "高帮护踝|high-top ankle-support",
                    "实战耐磨|court-ready hard-wearing",
                    "缓震抓地|cushioned high-grip",
                    "轻量低帮|lightweight low-top",
                ),
                uses=_ts(
                    "室内外篮球实战|indoor and outdoor basketball games",
                    "日常训练和街头穿搭|training and street style",
                ),
            ),
            Kind(
                _t("徒步鞋|hiking shoes"),
                (259, 799),
                _ts(
                    "防水防滑|waterproof non-slip",
                    "中帮护踝|mid-cut ankle-support",
                    "轻量透气|lightweight breathable",
                    "耐磨抓地|hard-wearing high-traction",
                ),
                uses=_ts(
                    "登山徒步和户外旅行|mountain hikes and outdoor trips",
                    "城市通勤和周末郊游|city commuting and weekend outings",
                ),
            ),
        ),
    ),
    Category(
        name=_t("水杯|Drinkware"),
        brands=_ts("暖居|Nuanju", "清泉|Qingquan", "悠享|Youxiang", "木森|Musen"),
        audiences=_ts("|", "学生|for students", "儿童|kids'"),
        variants=_ts(
            "黑色|black", "白色|white", "奶油绿|cream green", "樱花粉|cherry-blossom pink"
        ),
        uses=_ts(
            "通勤和办公室|commuting and the office",
            "居家日常饮水|everyday drinking at home",
        ),
        kinds=(
            Kind(
                _t("保温杯|insulated bottle"),
                (69, 259),
                _ts(
                    "316不锈钢真空|316 stainless steel vacuum",
                    "智能测温|smart temperature-display",
                    "大容量弹盖|large flip-lid",
                    "便携一键开|portable one-touch",
                ),
                specs=_ts("350毫升|350 ml", "500毫升|500 ml", "750毫升|750 ml"),
                materials=_ts(
                    "316不锈钢内胆|a 316 stainless steel liner",
                    "双层真空结构|a double-wall vacuum structure",
                ),
                highlights=_ts(
                    "保温12小时以上|it keeps drinks hot for over 12 hours",
                    "密封防漏、不串味|it seals tight, does not leak and keeps no odours",
                ),
                uses=_ts(
                    "通勤和办公室|commuting and the office",
                    "冬季户外出行|winter trips outdoors",
                ),
            ),
            Kind(
                _t("玻璃杯|glass cup"),
                (29, 99),
                _ts(
                    "高硼硅耐热|heat-resistant borosilicate",
                    "双层防烫|double-wall heat-proof",
                    "带茶隔|tea-infuser",
                    "简约透明|minimalist clear",
                ),
                specs=_ts("300毫升|300 ml", "450毫升|450 ml", "600毫升|600 ml"),
                variants=_ts("透明|clear glass", "琥珀色|amber glass", "烟灰色|smoky grey glass"),
                materials=_ts(
                    "高硼硅玻璃|borosilicate glass",
                    "加厚食品级玻璃|thick food-grade glass",
                ),
                highlights=_ts(
                    "耐冷耐热、不易炸裂|it handles hot and cold without cracking",
                    "杯身通透、易清洗|it is crystal clear and easy to clean",
                ),
                uses=_ts(
                    "泡茶和冲咖啡|brewing tea and coffee",
                    "居家和办公室日常饮水|daily drinking at home and in the office",
                ),
            ),
            Kind(
                _t("运动水壶|sports water bottle"),
                (39, 149),
                _ts(
                    "Tritan材质|Tritan",
                    "吸管式防漏|leak-proof straw",
                    "带时间刻度|time-marker",
                    "户外防摔|drop-proof outdoor",
                ),
                specs=_ts("700毫升|700 ml", "1升|1 litre", "1.5升|1.5 litre"),
                materials=_ts(
                    "食品级Tritan材料|food-grade Tritan plastic",
                    "不含双酚A的材料|BPA-free materials",
                ),
                highlights=_ts(
                    "单手开盖、喝水方便|it opens with one hand for easy sipping",
                    "轻巧耐摔|it is light and hard to break",
                ),
                uses=_ts(
                    "健身房和户外运动|the gym and outdoor sports",
                    "骑行和徒步|cycling and hiking",
                ),
            ),
        ),
    ),
    Category(
        name=_t("耳机|Headphones"),
        brands=_ts("声悦|Shengyue", "听澜|Tinglan", "律动|Lvdong", "静界|Jingjie"),
        variants=_ts("黑色|black", "白色|white", "雾蓝色|misty blue", "薄荷绿|mint green"),
        materials=_ts(
            "蓝牙5.3芯片|a Bluetooth 5.3 chip",
            "13毫米大动圈单元|13 mm dynamic drivers",
            "低功耗降噪芯片|a low-power noise-cancelling chip",
        ),
        highlights=_ts(
            "连接稳定、延迟低|the connection is stable with low latency",
            "单次续航可达8小时|one charge lasts up to 8 hours",
            "低音浑厚、人声清晰|the bass is rich and vocals are clear",
            "佩戴轻盈不压耳|they are light to wear and do not press on the ears",
        ),
        kinds=(
            Kind(
                _t("真无线蓝牙耳机|true wireless earbuds"),
                (99, 899),
                _ts(
                    "主动降噪|active noise-cancelling",
                    "半入耳式|semi-in-ear",
                    "低延迟游戏|low-latency gaming",
                    "超长续航|long-battery-life",
                ),
                uses=_ts(
                    "通勤和地铁出行|commuting and subway rides",
                    "运动健身和日常听歌|workouts and everyday listening",
                ),
            ),
            Kind(
                _t("头戴式耳机|over-ear headphones"),
                (199, 1499),
                _ts(
                    "主动降噪|active noise-cancelling",
                    "无线蓝牙|wireless Bluetooth",
                    "电竞游戏|esports gaming",
                    "折叠便携|foldable portable",
                ),
                uses=_ts(
                    "长途旅行和办公|long trips and office work",
                    "打游戏和看电影|gaming and watching films",
                ),
            ),
            Kind(
                _t("骨传导运动耳机|bone-conduction sports headphones"),
                (299, 999),
                _ts(
                    "防水防汗|waterproof sweat-proof",
                    "挂耳式|ear-hook",
                    "超轻|ultra-light",
                    "开放式|open-ear",
                ),
                materials=_ts(
                    "钛合金记忆骨架|a titanium-alloy memory frame",
                    "蓝牙5.3芯片|a Bluetooth 5.3 chip",
                ),
                uses=_ts(
                    "跑步和骑行|running and cycling",
                    "户外运动|outdoor sports",
                ),
            ),
        ),
    ),
    Category(
        name=_t("手机配件|Phone Accessories"),
        brands=_ts("极充|Jichong", "盾甲|Dunjia", "优连|Youlian", "星源|Xingyuan"),
        variants=_ts("黑色|black", "白色|white", "深空灰|space grey", "远峰蓝|sierra blue"),
        kinds=(
            Kind(
                _t("手机壳|phone case"),
                (19, 99),
                _ts(
                    "全包防摔|full-coverage shockproof",
                    "磁吸|magnetic",
                    "超薄磨砂|ultra-thin matte",
                    "透明气囊|clear air-cushion",
                ),
                specs=_ts(
                    "适用iPhone 15|for iPhone 15",
                    "适用华为Mate 60|for Huawei Mate 60",
                    "适用小米14|for Xiaomi 14",
                ),
                feature_materials=_ts(
                    "液态硅胶|liquid silicone",
                    "亲肤磨砂PC背板|a soft-touch matte PC back",
                    "亲肤磨砂PC背板|a soft-touch matte PC back",
                    "透明TPU软壳|a clear soft TPU shell",
                ),
                highlights=_ts(
                    "镜头加高保护|a raised lip protects the camera",
                    "按键灵敏、开孔精准|the buttons are responsive and the cut-outs precise",
                ),
                uses=_ts(
                    "日常防护|everyday protection",
                    "搭配磁吸配件使用|use with magnetic accessories",
                ),
            ),
            Kind(
                _t("充电宝|power bank"),
                (59, 299),
                _ts(
                    "22.5W快充|22.5 W fast-charging",
                    "超薄便携|ultra-slim portable",
                    "磁吸无线|magnetic wireless",
                    "自带线|built-in-cable",
                ),
                specs=_ts("10000毫安|10,000 mAh", "20000毫安|20,000 mAh"),
                materials=_ts(
                    "高密度锂聚合物电芯|high-density lithium-polymer cells",
                    "阻燃外壳|a flame-retardant shell",
                ),
                highlights=_ts(
                    "支持多设备同时充电|it charges several devices at once",
                    "剩余电量数字显示|it shows the remaining charge as a number",
                ),
                uses=_ts(
                    "出差和旅行|business trips and travel",
                    "通勤路上应急充电|emergency charging on the commute",
                ),
            ),
            Kind(
                _t("数据线|USB cable"),
                (15, 69),
                _ts(
                    "编织快充|braided fast-charging",
                    "三合一|3-in-1",
                    "L形弯头|right-angle",
                    "100W超级快充|100 W super-fast-charging",
                ),
                specs=_ts("1米|1 m", "1.5米|1.5 m", "2米|2 m"),
                materials=_ts(
                    "尼龙编织线身|a braided nylon jacket",
                    "镀金接口|gold-plated connectors",
                ),
                highlights=_ts(
                    "反复弯折上万次不易断|it survives over ten thousand bends",
                    "充电传输二合一|it charges and transfers data",
                ),
                uses=_ts(
                    "手机和平板充电|charging phones and tablets",
                    "车载和办公室使用|the car and the office",
                ),
            ),
        ),
    ),
    Category(
        name=_t("连衣裙|Dresses"),
        brands=_ts("素语|Suyu", "锦瑟|Jinse", "初夏|Chuxia", "棉知|Mianzhi"),
        audiences=_ts("|", "大码|plus-size", "小个子|petite"),
        variants=_ts(
            "黑色|black", "米白色|off-white", "雾霾蓝|dusty blue", "酒红色|burgundy", "黄色|yellow"
        ),
        highlights=_ts(
            "版型修身、显高显瘦|the cut is flattering and elongating",
            "柔软亲肤、不易起皱|it is soft on the skin and resists wrinkles",
            "裙摆垂坠有质感|the skirt drapes beautifully",
            "腰部设计遮肉显瘦|the waist design is slimming",
        ),
        kinds=(
            Kind(
                _t("碎花连衣裙|floral dress"),
                (129, 399),
                _ts(
                    "法式复古|French vintage",
                    "收腰显瘦|fitted-waist slimming",
                    "方领泡泡袖|square-neck puff-sleeve",
                    "雪纺飘逸|flowing chiffon",
                ),
                feature_materials=_ts(
                    "亚麻混纺面料|a linen-blend fabric",
                    "纯棉面料|pure cotton fabric",
                    "纯棉面料|pure cotton fabric",
                    "垂感雪纺面料|drapey chiffon fabric",
                ),
                uses=_ts(
                    "春夏出游和约会|spring and summer outings and dates",
                    "海边度假拍照|beach holiday photos",
                ),
            ),
            Kind(
                _t("针织连衣裙|knit dress"),
                (159, 499),
                _ts(
                    "修身长款|slim-fit long",
                    "高领打底|high-neck layering",
                    "温柔气质|soft elegant",
                    "坑条|ribbed",
                ),
                materials=_ts(
                    "弹力针织面料|stretch knit fabric",
                    "羊毛混纺面料|a wool-blend fabric",
                ),
                uses=_ts(
                    "秋冬通勤|the autumn and winter commute",
                    "日常约会|everyday dates",
                ),
            ),
            Kind(
                _t("衬衫裙|shirt dress"),
                (139, 459),
                _ts(
                    "宽松休闲|loose casual",
                    "系带收腰|belted",
                    "条纹通勤|striped office",
                    "纯棉|pure-cotton",
                ),
                feature_materials=_ts(
                    "亚麻混纺面料|a linen-blend fabric",
                    "天丝混纺面料|a Tencel-blend fabric",
                    "纯棉面料|pure cotton fabric",
                    "纯棉面料|pure cotton fabric",
                ),
                uses=_ts(
                    "上班通勤|the office commute",
                    "周末休闲|relaxed weekends",
                ),
            ),
        ),
    ),
    Category(
        name=_t("茶叶|Tea"),
        brands=_ts("茗山|Mingshan", "云雾|Yunwu", "古树|Gushu", "一叶|Yiye"),
        variant_key=_t("包装|packaging"),
        variant_fmt=_t("{}|{}"),
        variants=_ts(
            "罐装|packed in a tin",
            "礼盒装|in a gift box",
            "袋装|packed in a pouch",
            "独立小包装|in individual sachets",
        ),
        materials=_ts(
            "高山茶园鲜叶|fresh leaves from high-mountain tea gardens",
            "一芽两叶鲜叶|fresh leaves plucked as one bud and two leaves",
            "生态茶园原料|leaves from an ecological tea garden",
        ),
        highlights=_ts(
            "汤色清亮、回甘持久|the liquor is clear with a lasting sweet aftertaste",
            "香气高扬、耐冲泡|the aroma is lively and it holds up to many infusions",
            "滋味醇厚顺滑|the taste is mellow and smooth",
        ),
        uses=_ts(
            "日常自饮|everyday drinking",
            "送礼和待客|gifts and entertaining guests",
            "办公室冲泡|brewing at the office",
        ),
        kinds=(
            Kind(
                _t("西湖龙井|West Lake Longjing green tea"),
                (98, 698),
                _ts(
                    "明前特级|pre-Qingming premium-grade",
                    "雨前一级|pre-Guyu first-grade",
                    "手工炒制|hand-roasted",
                    "2026新茶|2026 new-harvest",
                ),
                specs=_ts("125克|125 g", "250克|250 g"),
            ),
            Kind(
                _t("正山小种红茶|Lapsang Souchong black tea"),
                (68, 398),
                _ts(
                    "武夷山|Wuyishan",
                    "特级蜜香|premium honey-scented",
                    "浓香型|rich-flavoured",
                    "无烟|unsmoked",
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
            ),
            Kind(
                _t("铁观音|Tieguanyin oolong tea"),
                (78, 458),
                _ts(
                    "安溪清香型|Anxi light-aroma",
                    "浓香型|rich-roasted",
                    "特级|premium",
                    "兰花香|orchid-scented",
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
            ),
            Kind(
                _t("普洱茶饼|Pu'er tea cake"),
                (88, 888),
                _ts(
                    "云南古树生茶|Yunnan old-tree raw",
                    "十年陈熟茶|ten-year-aged ripe",
                    "冰岛|Bingdao",
                    "勐海|Menghai",
                ),
                specs=_ts("200克|200 g", "357克|357 g"),
            ),
        ),
    ),
    Category(
        name=_t("儿童玩具|Kids' Toys"),
        brands=_ts("童趣|Tongqu", "小飞象|Xiaofeixiang", "乐智|Lezhi", "星宝|Xingbao"),
        variants=_ts("红色|red", "蓝色|blue", "粉色|pink", "黄色|yellow"),
        highlights=_ts(
            "圆角设计不伤手|rounded edges keep little hands safe",
            "锻炼动手能力和想象力|it builds hands-on skills and imagination",
            "通过3C认证|it is 3C certified",
            "颜色鲜艳、不易褪色|the colours are bright and do not fade easily",
        ),
        uses=_ts(
            "亲子互动|playing together with parents",
            "生日礼物|birthday gifts",
            "幼儿园和家庭游戏|kindergarten and play at home",
        ),
        kinds=(
            Kind(
                _t("积木|building blocks"),
                (59, 399),
                _ts(
                    "大颗粒益智|educational large-brick",
                    "城市工程车|city construction-vehicle",
                    "太空探索|space-exploration",
                    "恐龙主题|dinosaur-themed",
                ),
                specs=_ts("3-6岁|ages 3-6", "6岁以上|ages 6+"),
                materials=_ts("环保ABS材料|eco-friendly ABS plastic", "食品级PP材料|food-grade PP"),
            ),
            Kind(
                _t("遥控车|remote-control car"),
                (99, 459),
                _ts(
                    "四驱越野|4WD off-road",
                    "高速漂移|high-speed drifting",
                    "充电特技|rechargeable stunt",
                    "水陆两栖|amphibious",
                ),
                specs=_ts("6岁以上|ages 6+", "8岁以上|ages 8+"),
                materials=_ts(
                    "加厚耐摔车身|a thick, crash-resistant body",
                    "合金底盘|an alloy chassis",
                ),
            ),
            Kind(
                _t("毛绒玩具|plush toy"),
                (39, 199),
                _ts(
                    "安抚|soothing",
                    "大号抱枕|large cuddle-pillow",
                    "恐龙|dinosaur",
                    "兔子造型|bunny",
                ),
                specs=_ts("30厘米|30 cm", "60厘米|60 cm"),
                materials=_ts(
                    "短毛绒面料|short-pile plush fabric",
                    "PP棉填充|PP cotton filling",
                ),
            ),
            Kind(
                _t("拼图|jigsaw puzzle"),
                (29, 129),
                _ts(
                    "木质|wooden",
                    "地图认知|world-map",
                    "动物|animal",
                    "早教|early-learning",
                ),
                specs=_ts("3-6岁|ages 3-6", "6岁以上|ages 6+"),
                feature_materials=_ts(
                    "实木拼板|solid wood pieces",
                    "加厚纸板|thick cardboard",
                    "加厚纸板|thick cardboard",
                    "实木拼板|solid wood pieces",
                ),
            ),
        ),
    ),
    Category(
        name=_t("护肤品|Skincare"),
        brands=_ts("水漾|Shuiyang", "润颜|Runyan", "植本|Zhiben", "雪肌|Xueji"),
        audiences=_ts("|", "男士|men's"),
        variant_key=_t("肤质|skin type"),
        variant_fmt=_t("{}适用|for {} skin"),
        variants=_ts(
            "干性肌肤|dry",
            "油性肌肤|oily",
            "混合性肌肤|combination",
            "敏感肌肤|sensitive",
        ),
        materials=_ts(
            "植物萃取精华|plant extracts",
            "无香精配方|a fragrance-free formula",
            "积雪草提取物|centella asiatica extract",
            "神经酰胺复合配方|a ceramide complex formula",
        ),
        highlights=_ts(
            "质地轻薄、易吸收|the texture is light and absorbs quickly",
            "温和不刺激|it is gentle and non-irritating",
            "持久保湿不紧绷|it keeps skin moist without tightness",
            "上脸清爽不黏腻|it feels fresh, not sticky, on the face",
        ),
        uses=_ts(
            "日常早晚护肤|daily morning and evening care",
            "换季肌肤护理|skin care through seasonal changes",
        ),
        kinds=(
            Kind(
                _t("面霜|face cream"),
                (89, 499),
                _ts(
                    "补水保湿|hydrating",
                    "修护屏障|barrier-repair",
                    "抗皱紧致|anti-wrinkle firming",
                    "清爽控油|light oil-control",
                ),
                specs=_ts("50克|50 g", "80克|80 g"),
            ),
            Kind(
                _t("精华液|serum"),
                (129, 699),
                _ts(
                    "玻尿酸补水|hyaluronic-acid hydrating",
                    "烟酰胺提亮|niacinamide brightening",
                    "视黄醇抗老|retinol anti-ageing",
                    "舒缓修护|soothing repair",
                ),
                specs=_ts("30毫升|30 ml", "50毫升|50 ml"),
            ),
            Kind(
                _t("洗面奶|facial cleanser"),
                (39, 159),
                _ts(
                    "氨基酸温和|gentle amino-acid",
                    "深层清洁|deep-cleansing",
                    "泡沫绵密|rich-foam",
                    "控油|oil-control",
                ),
                specs=_ts("100克|100 g", "150克|150 g"),
            ),
            Kind(
                _t("防晒霜|sunscreen"),
                (69, 259),
                _ts(
                    "SPF50+高倍|SPF50+ high-protection",
                    "清爽不油腻|light non-greasy",
                    "防水防汗|water- and sweat-resistant",
                    "物理|mineral",
                ),
                specs=_ts("40毫升|40 ml", "60毫升|60 ml"),
                uses=_ts(
                    "户外出行和日常通勤|outdoor trips and the daily commute",
                    "海边度假|beach holidays",
                ),
            ),
        ),
    ),
    Category(
        name=_t("厨房用品|Kitchenware"),
        brands=_ts("厨乐|Chule", "匠心|Jiangxin", "美膳|Meishan", "铁匠铺|Tiejiangpu"),
        variants=_ts("黑色|black", "米白色|off-white", "奶油绿|cream green", "灰色|grey"),
        uses=_ts(
            "家庭日常烹饪|everyday home cooking",
            "乔迁送礼|housewarming gifts",
        ),
        kinds=(
            Kind(
                _t("炒锅|wok"),
                (99, 459),
                _ts(
                    "不粘|non-stick",
                    "精铁无涂层|uncoated iron",
                    "麦饭石不粘|granite-stone non-stick",
                    "多层钢复合|multi-ply steel",
                ),
                specs=_ts("30厘米|30 cm", "32厘米|32 cm"),
                feature_materials=_ts(
                    "食品级不粘涂层|a food-grade non-stick coating",
                    "精铁锅身|a refined iron body",
                    "麦饭石涂层|a granite-stone coating",
                    "三层复合钢|three-ply clad steel",
                ),
                highlights=_ts(
                    "受热均匀、不易糊锅|it heats evenly and food rarely sticks",
                    "燃气灶电磁炉通用|it works on gas and induction hobs",
                    "少油烟、易清洗|it makes less smoke and is easy to clean",
                ),
            ),
            Kind(
                _t("菜刀|kitchen knife"),
                (59, 299),
                _ts(
                    "锻打|forged",
                    "切片|slicing",
                    "大马士革钢|Damascus steel",
                    "斩切两用|chop-and-slice",
                ),
                feature_materials=_ts(
                    "高碳不锈钢|high-carbon stainless steel",
                    "5Cr15钢材|5Cr15 steel",
                    "67层大马士革钢|67-layer Damascus steel",
                    "高碳不锈钢|high-carbon stainless steel",
                ),
                highlights=_ts(
                    "刀刃锋利、切菜省力|the edge is sharp and cuts with little effort",
                    "刀柄防滑不累手|the non-slip handle is easy on the hand",
                ),
            ),
            Kind(
                _t("砧板|chopping board"),
                (39, 199),
                _ts(
                    "实木|solid-wood",
                    "抗菌|antibacterial",
                    "双面|double-sided",
                    "加厚|extra-thick",
                ),
                specs=_ts("36×24厘米|36 x 24 cm", "40×28厘米|40 x 28 cm"),
                variant_key=_t("形状|shape"),
                variant_fmt=_t("{}|{}"),
                variants=_ts("长方形|rectangular", "圆形|round"),
                feature_materials=_ts(
                    "整块乌檀木|a single piece of ebony wood",
                    "食品级PP材质|food-grade PP plastic",
                    "天然竹材|natural bamboo",
                    "天然竹材|natural bamboo",
                ),
                highlights=_ts(
                    "不易开裂发霉|it resists cracking and mould",
                    "生熟分开更卫生|separate sides for raw and cooked food keep it hygienic",
                ),
            ),
        ),
    ),
    Category(
        name=_t("箱包|Bags & Luggage"),
        brands=_ts("行者|Xingzhe", "途远|Tuyuan", "简行|Jianxing", "背客|Beike"),
        audiences=_ts("|", "男士|men's", "女士|women's", "学生|student"),
        variants=_ts("黑色|black", "灰色|grey", "藏青色|navy", "卡其色|khaki"),
        kinds=(
            Kind(
                _t("双肩包|backpack"),
                (99, 499),
                _ts(
                    "大容量通勤|large-capacity commuter",
                    "防泼水|water-repellent",
                    "轻便休闲|light casual",
                    "商务电脑|business laptop",
                ),
                specs=_ts("20升|20 L", "30升|30 L"),
                materials=_ts(
                    "高密度防泼水牛津布|high-density water-repellent Oxford fabric",
                    "尼龙面料|nylon fabric",
                ),
                highlights=_ts(
                    "分区收纳、取物方便|organised compartments make things easy to reach",
                    "背负透气减压|the straps are breathable and ease the load",
                ),
                uses=_ts(
                    "上班通勤和短途出差|commuting and short business trips",
                    "上学和周末出游|school and weekend outings",
                ),
            ),
            Kind(
                _t("行李箱|suitcase"),
                (199, 899),
                _ts(
                    "铝框|aluminium-frame",
                    "静音万向轮|silent spinner-wheel",
                    "超轻|ultra-light",
                    "扩展大容量|expandable",
                ),
                specs=_ts("20英寸|20-inch", "24英寸|24-inch", "28英寸|28-inch"),
                materials=_ts(
                    "PC箱体|a polycarbonate shell", "铝镁合金箱体|a magnesium-aluminium shell"
                ),
                highlights=_ts(
                    "轮子顺滑静音|the wheels roll smoothly and quietly",
                    "抗压耐摔|it withstands pressure and drops",
                ),
                uses=_ts(
                    "出差和旅行|business trips and travel",
                    "长途旅行和留学|long journeys and studying abroad",
                ),
            ),
            Kind(
                _t("斜挎包|crossbody bag"),
                (69, 359),
                _ts(
                    "小众设计|indie-design",
                    "多口袋|multi-pocket",
                    "运动|sporty",
                    "简约|minimalist",
                ),
                materials=_ts("头层牛皮|top-grain leather", "尼龙面料|nylon fabric"),
                highlights=_ts(
                    "小巧能装、轻便不累|it is small but roomy and light to carry",
                    "肩带可调节|the strap is adjustable",
                ),
                uses=_ts(
                    "逛街和日常出行|shopping and everyday outings",
                    "短途旅行|short trips",
                ),
            ),
        ),
    ),
    Category(
        name=_t("宠物用品|Pet Supplies"),
        brands=_ts("萌宠|Mengchong", "汪星|Wangxing", "喵乐|Miaole", "毛孩|Maohai"),
        variants=_ts("灰色|grey", "咖啡色|brown", "粉色|pink", "蓝色|blue"),
        highlights=_ts(
            "做工扎实、经久耐用|it is solidly made and lasts a long time",
            "毛孩子更爱用|pets love using it",
        ),
        kinds=(
            Kind(
                _t("猫砂|cat litter"),
                (29, 129),
                _ts(
                    "豆腐|tofu",
                    "膨润土|bentonite",
                    "混合|mixed",
                    "低尘除臭|low-dust odour-control",
                ),
                specs=_ts("6升|6 L", "10公斤|10 kg"),
                variant_key=_t("香型|scent"),
                variant_fmt=_t("{}|{}"),
                variants=_ts("原味|unscented", "绿茶味|green tea scent", "奶香味|milk scent"),
                feature_materials=_ts(
                    "天然豌豆纤维|natural pea fibre",
                    "天然膨润土|natural bentonite clay",
                    "豆腐砂和膨润土|tofu litter and bentonite clay",
                    "活性炭颗粒|activated charcoal granules",
                ),
                highlights=_ts(
                    "吸水快、结团硬|it absorbs fast and clumps firmly",
                    "除臭持久|it controls odour for a long time",
                ),
                uses=_ts(
                    "单猫和多猫家庭|single-cat and multi-cat homes",
                    "日常清理猫砂盆|daily litter box care",
                ),
            ),
            Kind(
                _t("宠物窝|pet bed"),
                (59, 259),
                _ts(
                    "四季通用|all-season",
                    "可拆洗|removable-cover washable",
                    "半封闭保暖|semi-enclosed warm",
                    "沙发式|sofa-style",
                ),
                specs=_ts("小号|small", "中号|medium", "大号|large"),
                materials=_ts("亲肤短毛绒|soft short plush", "高弹PP棉|springy PP cotton"),
                uses=_ts(
                    "猫咪和小型犬|cats and small dogs",
                    "冬季保暖|keeping warm in winter",
                ),
            ),
            Kind(
                _t("狗狗牵引绳|dog leash"),
                (39, 159),
                _ts(
                    "反光|reflective",
                    "自动伸缩|auto-retractable",
                    "胸背式|harness-style",
                    "防爆冲|anti-pull",
                ),
                specs=_ts("小型犬|for small dogs", "中大型犬|for medium and large dogs"),
                materials=_ts(
                    "高密度尼龙织带|high-density nylon webbing",
                    "锌合金卡扣|zinc-alloy buckles",
                ),
                uses=_ts("日常遛狗|daily dog walks", "夜间散步|evening walks"),
            ),
            Kind(
                _t("猫抓板|cat scratcher"),
                (19, 129),
                _ts(
                    "瓦楞纸|corrugated-cardboard",
                    "立式|vertical",
                    "沙发型|sofa-shaped",
                    "耐抓|scratch-resistant",
                ),
                feature_materials=_ts(
                    "高密度瓦楞纸|high-density corrugated cardboard",
                    "天然剑麻|natural sisal",
                    "高密度瓦楞纸|high-density corrugated cardboard",
                    "天然剑麻|natural sisal",
                ),
                uses=_ts(
                    "猫咪磨爪和休息|cats sharpening their claws and lounging",
                    "保护家中沙发|protecting the sofa at home",
                ),
            ),
        ),
    ),
    Category(
        name=_t("零食|Snacks"),
        brands=_ts("果园|Guoyuan", "馋嘴|Chanzui", "三只熊|Sanzhixiong", "良品铺|Liangpinpu"),
        variant_key=_t("口味|flavour"),
        variant_fmt=_t("{}|{} flavour"),
        highlights=_ts(
            "独立包装、方便携带|each portion is individually packed and easy to carry",
            "锁鲜包装、开袋即食|the sealed pack keeps it fresh and ready to eat",
        ),
        uses=_ts(
            "办公室下午茶|an office afternoon snack",
            "追剧和出游|binge-watching and outings",
            "送礼|gifts",
        ),
        kinds=(
            Kind(
                _t("每日坚果|daily mixed nuts"),
                (39, 169),
                _ts(
                    "独立小包装|individually-packed",
                    "高蛋白|high-protein",
                    "低温烘焙|slow-roasted",
                    "无添加|additive-free",
                ),
                specs=_ts("30包|30 packs", "750克|750 g"),
                variants=_ts("原味|original", "海盐味|sea salt", "蜂蜜味|honey"),
                materials=_ts(
                    "新疆核桃和巴旦木|walnuts and almonds from Xinjiang",
                    "进口腰果和蔓越莓干|imported cashews and dried cranberries",
                ),
            ),
            Kind(
                _t("牛肉干|beef jerky"),
                (49, 199),
                _ts(
                    "内蒙古风干|Inner Mongolian air-dried",
                    "手撕|hand-torn",
                    "高蛋白|high-protein",
                    "即食|ready-to-eat",
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                variants=_ts("原味|original", "香辣味|spicy", "五香味|five-spice", "孜然味|cumin"),
                materials=_ts("草原黄牛肉|grassland beef", "整块牛后腿肉|whole-cut beef hind leg"),
                highlights=_ts(
                    "肉质紧实有嚼劲|the meat is firm and chewy",
                    "越嚼越香|it gets tastier the more you chew",
                ),
            ),
            Kind(
                _t("曲奇饼干|cookies"),
                (19, 89),
                _ts(
                    "手工|handmade",
                    "丹麦风味|Danish-style",
                    "低糖|low-sugar",
                    "酥脆|crunchy",
                ),
                specs=_ts("400克|400 g", "500克|500 g"),
                variants=_ts(
                    "黄油味|butter", "巧克力味|chocolate", "抹茶味|matcha", "海苔味|seaweed"
                ),
                materials=_ts(
                    "新西兰进口黄油|butter imported from New Zealand",
                    "优质小麦粉|high-quality wheat flour",
                ),
            ),
            Kind(
                _t("芒果干|dried mango"),
                (19, 79),
                _ts(
                    "泰国|Thai",
                    "软糯|soft and chewy",
                    "厚切|thick-cut",
                    "无添加蔗糖|no-added-sugar",
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                variants=_ts("原味|original", "酸甜味|sweet-and-sour"),
                materials=_ts(
                    "新鲜台农芒果|fresh Tainong mangoes", "当季鲜果|fresh in-season fruit"
                ),
                highlights=_ts(
                    "果肉厚实、酸甜可口|the flesh is thick, sweet and tangy",
                    "独立包装、方便携带|each portion is individually packed and easy to carry",
                ),
            ),
        ),
    ),
    Category(
        name=_t("床上用品|Bedding"),
        brands=_ts("梦栖|Mengqi", "棉语|Mianyu", "安眠坊|Anmianfang", "云枕|Yunzhen"),
        variants=_ts(
            "浅灰色|light grey", "米白色|off-white", "雾蓝色|misty blue", "豆沙粉|dusty pink"
        ),
        highlights=_ts(
            "亲肤透气、不起球|it is soft, breathable and does not pill",
            "柔软舒适、一觉到天亮|it is soft and comfortable for sleeping through the night",
        ),
        uses=_ts(
            "卧室日常使用|everyday bedroom use",
            "学生宿舍|student dorms",
        ),
        kinds=(
            Kind(
                _t("四件套|four-piece bedding set"),
                (199, 899),
                _ts(
                    "纯棉|pure-cotton",
                    "60支长绒棉|60s long-staple cotton",
                    "水洗棉|washed-cotton",
                    "简约北欧|Nordic minimalist",
                ),
                specs=_ts("1.5米床|for 1.5 m beds", "1.8米床|for 1.8 m beds"),
                feature_materials=_ts(
                    "100%新疆棉|100% Xinjiang cotton",
                    "埃及长绒棉|Egyptian long-staple cotton",
                    "水洗棉面料|washed cotton fabric",
                    "天丝面料|Tencel fabric",
                ),
            ),
            Kind(
                _t("枕头|pillow"),
                (59, 399),
                _ts(
                    "乳胶|latex",
                    "记忆棉护颈|memory-foam neck-support",
                    "羽绒|down",
                    "荞麦壳|buckwheat-hull",
                ),
                specs=_ts("单只装|single", "一对装|set of 2"),
                feature_materials=_ts(
                    "泰国天然乳胶|natural Thai latex",
                    "慢回弹记忆棉|slow-rebound memory foam",
                    "白鹅绒填充|white goose-down filling",
                    "天然荞麦壳填充|natural buckwheat-hull filling",
                ),
                highlights=_ts(
                    "贴合颈椎曲线|it follows the curve of the neck",
                    "软硬适中、支撑性好|it is neither too soft nor too firm and gives good support",
                ),
            ),
            Kind(
                _t("夏凉被|summer quilt"),
                (99, 399),
                _ts(
                    "冰丝|ice-silk",
                    "可水洗|machine-washable",
                    "大豆纤维|soy-fibre",
                    "纯棉|pure-cotton",
                ),
                specs=_ts("150×200厘米|150 x 200 cm", "200×230厘米|200 x 230 cm"),
                feature_materials=_ts(
                    "凉感冰丝面料|cooling ice-silk fabric",
                    "大豆纤维填充|soy fibre filling",
                    "大豆纤维填充|soy fibre filling",
                    "纯棉面料|pure cotton fabric",
                ),
                uses=_ts("夏季午睡|summer naps", "空调房|air-conditioned rooms"),
            ),
        ),
    ),
    Category(
        name=_t("文具|Stationery"),
        brands=_ts("墨客|Moke", "书香|Shuxiang", "青竹|Qingzhu", "笔友|Biyou"),
        audiences=_ts("|", "学生|student"),
        variants=_ts("黑色|black", "蓝色|blue", "红色|red", "粉色|pink"),
        uses=_ts(
            "学习考试|study and exams",
            "办公记录|taking notes at work",
        ),
        kinds=(
            Kind(
                _t("中性笔|gel pens"),
                (9.9, 39),
                _ts(
                    "速干|quick-dry",
                    "按动|retractable",
                    "大容量|large-capacity",
                    "考试专用|exam",
                ),
                specs=_ts(
                    "0.38毫米 12支装|0.38 mm, pack of 12", "0.5毫米 12支装|0.5 mm, pack of 12"
                ),
                materials=_ts("进口笔头|imported tips", "顺滑中性墨水|smooth gel ink"),
                highlights=_ts(
                    "书写流畅不断墨|they write smoothly without skipping",
                    "速干不晕染|the ink dries fast without smudging",
                ),
            ),
            Kind(
                _t("笔记本|notebook"),
                (12, 69),
                _ts(
                    "加厚|extra-thick",
                    "活页|loose-leaf",
                    "点阵|dot-grid",
                    "复古皮面|vintage leather-cover",
                ),
                specs=_ts("A5|A5", "B5|B5"),
                materials=_ts(
                    "加厚道林纸|thick woodfree paper", "护眼米黄内页|eye-friendly cream pages"
                ),
                highlights=_ts(
                    "钢笔书写不洇墨|fountain-pen ink does not bleed through",
                    "可180度平摊|it lies flat at 180 degrees",
                ),
                uses=_ts(
                    "学习考试|study and exams",
                    "日记和手账|journaling and planners",
                ),
            ),
            Kind(
                _t("钢笔|fountain pen"),
                (39, 299),
                _ts(
                    "练字|calligraphy-practice",
                    "商务|business",
                    "金属|metal",
                    "透明示范|clear demonstrator",
                ),
                specs=_ts("EF尖|EF nib", "F尖|F nib"),
                feature_materials=_ts(
                    "铱金笔尖|an iridium-tipped nib",
                    "铱金笔尖|an iridium-tipped nib",
                    "黄铜笔杆|a brass barrel",
                    "透明树脂笔杆|a clear resin barrel",
                ),
                highlights=_ts(
                    "出墨顺畅|the ink flows smoothly",
                    "握感舒适、书写不累|it is comfortable to hold for long writing",
                ),
            ),
            Kind(
                _t("水彩颜料|watercolour paint set"),
                (29, 199),
                _ts(
                    "固体|solid",
                    "便携|portable",
                    "珠光|pearlescent",
                    "专业级|artist-grade",
                ),
                specs=_ts("24色|24 colours", "36色|36 colours", "48色|48 colours"),
                variant_key=_t("包装|packaging"),
                variant_fmt=_t("{}|{}"),
                variants=_ts("铁盒装|in a tin case", "纸盒装|in a paper box"),
                materials=_ts(
                    "高浓度颜料|highly concentrated pigments",
                    "天然阿拉伯树胶|natural gum arabic",
                ),
                highlights=_ts(
                    "色彩鲜艳、易混色|the colours are vivid and blend easily",
                    "附赠水笔和调色盘|it comes with a water brush and a palette",
                ),
                uses=_ts(
                    "户外写生|sketching outdoors",
                    "绘画练习|painting practice",
                ),
            ),
        ),
    ),
    Category(
        name=_t("户外露营|Camping & Outdoors"),
        brands=_ts("野营家|Yeyingjia", "山行|Shanxing", "荒野|Huangye", "星空|Xingkong"),
        variants=_ts("军绿色|army green", "卡其色|khaki", "黑色|black", "橙色|orange"),
        uses=_ts(
            "公园野餐和露营|picnics in the park and camping",
            "自驾游|road trips",
        ),
        kinds=(
            Kind(
                _t("帐篷|tent"),
                (199, 1299),
                _ts(
                    "全自动速开|instant pop-up",
                    "防暴雨|storm-proof",
                    "双层|double-wall",
                    "超轻|ultra-light",
                ),
                specs=_ts("2人|2-person", "3-4人|3-4 person", "5-8人|5-8 person"),
                materials=_ts(
                    "210D牛津布|210D Oxford fabric",
                    "铝合金帐杆|aluminium poles",
                    "涂银防晒面料|silver-coated UV-blocking fabric",
                ),
                highlights=_ts(
                    "通风防蚊|it is well ventilated and keeps mosquitoes out",
                    "一分钟快速搭建|it sets up in one minute",
                ),
            ),
            Kind(
                _t("睡袋|sleeping bag"),
                (99, 599),
                _ts(
                    "信封式|envelope",
                    "木乃伊式|mummy",
                    "羽绒|down",
                    "可拼接|zip-together",
                ),
                specs=_ts("舒适温度5℃|comfort 5°C", "舒适温度0℃|comfort 0°C"),
                feature_materials=_ts(
                    "中空棉填充|hollow-fibre filling",
                    "白鸭绒填充|white duck-down filling",
                    "白鸭绒填充|white duck-down filling",
                    "中空棉填充|hollow-fibre filling",
                ),
                highlights=_ts(
                    "保暖轻便|it is warm and light",
                    "可机洗|it is machine washable",
                ),
            ),
            Kind(
                _t("折叠椅|folding chair"),
                (59, 299),
                _ts(
                    "铝合金超轻|ultra-light aluminium",
                    "加宽加厚|extra-wide",
                    "克米特|Kermit-style",
                    "可躺|reclining",
                ),
                materials=_ts(
                    "7075铝合金支架|a 7075 aluminium frame", "600D牛津布|600D Oxford fabric"
                ),
                highlights=_ts(
                    "承重150公斤|it holds up to 150 kg",
                    "收纳小巧、易携带|it packs small and is easy to carry",
                ),
            ),
            Kind(
                _t("露营灯|camping lantern"),
                (39, 199),
                _ts(
                    "充电式|rechargeable",
                    "复古|vintage",
                    "太阳能|solar",
                    "磁吸挂钩|magnetic-hook",
                ),
                materials=_ts(
                    "高亮LED灯珠|bright LED beads",
                    "大容量锂电池|a high-capacity lithium battery",
                ),
                highlights=_ts(
                    "三档调光|it has three brightness levels",
                    "续航长达20小时|it runs for up to 20 hours",
                ),
                uses=_ts(
                    "露营和停电应急|camping and power cuts",
                    "夜钓和庭院照明|night fishing and garden lighting",
                ),
            ),
        ),
    ),
)

_SMALL_WORDS = frozenset({"a", "an", "and", "for", "in", "of", "on", "the", "to", "with"})


def _title_case(text: str) -> str:
    """Capitalise each word of an English title except small words (``"3-in-1"`` stays)."""
    words = []
    for i, word in enumerate(text.split()):
        parts = word.split("-")
        words.append(
            "-".join(
                p if (i or j) and p in _SMALL_WORDS else p[:1].upper() + p[1:]
                for j, p in enumerate(parts)
            )
        )
    return " ".join(words)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shop_price(value: float) -> float:
    """Round to a shop price: 39.9 under 100 CNY, 129.0 above (always at least 9.9)."""
    if value < 100:
        return max(9.9, round(round(value) - 0.1, 1))
    return float(round(value / 10) * 10 - 1)


@dataclass(frozen=True)
class _Product:
    item_id: str
    category: int  # index into CATEGORIES
    kind: int  # index into the category's kinds
    brand: Term
    feature: Term
    audience: Term
    spec: Term
    material: Term
    highlight: Term
    variant: Term
    variant_key: Term
    variant_fmt: Term
    use: Term
    price: float
    in_stock: bool
    launch: float  # Unix seconds: updated_at
    translated: bool

    @property
    def kind_name(self) -> Term:
        return CATEGORIES[self.category].kinds[self.kind].name

    def title(self, lang: str) -> str:
        brand, feature, aud = (getattr(t, lang) for t in (self.brand, self.feature, self.audience))
        kind, spec = getattr(self.kind_name, lang), getattr(self.spec, lang)
        if lang == "zh":
            return f"{brand} {feature}{aud}{kind}" + (f" {spec}" if spec else "")
        before, after = ("", aud) if aud.startswith("for ") else (aud, "")
        head = _title_case(" ".join(w for w in (feature, before, kind, after) if w))
        return f"{brand} {head}" + (f", {spec}" if spec else "")

    def description(self, lang: str) -> str:
        variant = getattr(self.variant_fmt, lang).format(getattr(self.variant, lang))
        if lang == "zh":
            return f"采用{self.material.zh}，{self.highlight.zh}。{variant}，适合{self.use.zh}。"
        return (
            f"Made with {self.material.en}; {self.highlight.en}. "
            f"{_capitalise(variant)}, ideal for {self.use.en}."
        )

    def attributes(self) -> str:
        attrs = {"product_type": self.kind_name.zh, "品牌": self.brand.zh}
        attrs[self.variant_key.zh] = self.variant.zh
        if self.audience.zh:
            attrs["适用人群"] = self.audience.zh
        if self.spec.zh:
            attrs["规格"] = self.spec.zh
        attrs["材质"] = self.material.zh
        return json.dumps(attrs, ensure_ascii=False)


def _check(seed: int, days: int, n_users: int = 1) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInputError(f"days must be an integer >= 1, got {days!r}")
    if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 1:
        raise InvalidInputError(f"n_users must be an integer >= 1, got {n_users!r}")


def _products(seed: int, days: int) -> list[_Product]:
    """Compose the catalog: one seeded draw of parts per product (see module docs)."""
    rng = np.random.default_rng([seed, 0])  # the catalog's own stream: independent of shoppers
    n_total = len(CATEGORIES) * PRODUCTS_PER_CATEGORY
    new = set(rng.choice(n_total, size=round(NEW_SHARE * n_total), replace=False).tolist())
    end = START_TS + days * DAY
    products: list[_Product] = []
    for c, cat in enumerate(CATEGORIES):
        translated = set(
            rng.choice(PRODUCTS_PER_CATEGORY, TRANSLATED_PER_CATEGORY, replace=False).tolist()
        )
        combos = [
            (k, b, f, a, s)
            for k, kind in enumerate(cat.kinds)
            for b in range(len(cat.brands))
            for f in range(len(kind.features))
            for a in range(len(kind.audiences or cat.audiences))
            for s in range(max(1, len(kind.specs)))
        ]
        # spread products over the kinds first, then draw the other parts within each kind
        by_kind = [[x for x in combos if x[0] == k] for k in range(len(cat.kinds))]
        for rows in by_kind:
            order = rng.permutation(len(rows))
            rows[:] = [rows[i] for i in order]
        picks = [by_kind[i % len(by_kind)][i // len(by_kind)] for i in range(PRODUCTS_PER_CATEGORY)]
        for j, (k, b, f, a, s) in enumerate(picks):
            kind = cat.kinds[k]
            n = len(products)
            specs = kind.specs or (NO_TERM,)
            variants = kind.variants or cat.variants
            materials = kind.materials or cat.materials
            highlights = kind.highlights or cat.highlights
            uses = kind.uses or cat.uses
            lo, hi = kind.price
            size = 1.0 + 0.3 * s / max(1, len(specs) - 1)  # a bigger spec costs more
            price = _shop_price(min(hi * 1.3, (lo + (hi - lo) * rng.beta(1.5, 2.5)) * size))
            if n in new:
                launch = START_TS + round(rng.uniform(*NEW_WINDOW) * (end - START_TS))
            else:
                launch = START_TS - round(rng.uniform(7, 365) * DAY)
            products.append(
                _Product(
                    item_id=f"sku{n + 1:04d}",
                    category=c,
                    kind=k,
                    brand=cat.brands[b],
                    feature=kind.features[f],
                    audience=(kind.audiences or cat.audiences)[a],
                    spec=specs[s],
                    material=(
                        kind.feature_materials[f]
                        if kind.feature_materials
                        else materials[int(rng.integers(len(materials)))]
                    ),
                    highlight=highlights[int(rng.integers(len(highlights)))],
                    variant=variants[int(rng.integers(len(variants)))],
                    variant_key=kind.variant_key or cat.variant_key,
                    variant_fmt=kind.variant_fmt or cat.variant_fmt,
                    use=uses[int(rng.integers(len(uses)))],
                    price=price,
                    in_stock=bool(rng.random() < IN_STOCK_SHARE),
                    launch=float(launch),
                    translated=j in translated,
                )
            )
    return products


def _catalog_frame(products: list[_Product]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [p.item_id for p in products],
            "title": [p.title("zh") for p in products],
            "description": [p.description("zh") for p in products],
            "category": [CATEGORIES[p.category].name.zh for p in products],
            "price": [p.price for p in products],
            "currency": ["CNY"] * len(products),
            "in_stock": [p.in_stock for p in products],
            "attributes": [p.attributes() for p in products],
            "updated_at": [p.launch for p in products],
        },
        schema={
            "item_id": pl.String,
            "title": pl.String,
            "description": pl.String,
            "category": pl.String,
            "price": pl.Float64,
            "currency": pl.String,
            "in_stock": pl.Boolean,
            "attributes": pl.String,
            "updated_at": pl.Float64,
        },
    )


def zh_catalog(seed: int = 7, days: int = 60) -> pl.DataFrame:
    """The synthetic Chinese catalog: 360 products in 15 categories.

    Args:
        seed: the catalog's seed; the same seed gives the same frame.
        days: length of the simulated period; the 15% new products launch inside its last quarter.

    Returns:
        One row per product with the store's catalog columns: ``item_id`` (``"sku0001"``...),
        ``title`` and ``description`` (Chinese), ``category`` (Chinese name), ``price``
        (Float64, CNY), ``currency`` (``"CNY"``), ``in_stock`` (Boolean), ``attributes`` (JSON
        text with ``product_type``, 品牌, the variant and more) and ``updated_at`` (Unix seconds:
        the launch time).

    Raises:
        InvalidInputError: a negative or non-integer seed, or ``days < 1``.

    Example:
        >>> zh_catalog().row(0, named=True)["currency"]
        'CNY'
    """
    _check(seed, days)
    return _catalog_frame(_products(seed, days))


def zh_translations(seed: int = 7, days: int = 60) -> pl.DataFrame:
    """English translations of a seeded third of :func:`zh_catalog`'s products (120 of 360).

    Each translation is composed from the English twins of the parts that made the Chinese text,
    so it says what the Chinese title and description say.

    Args:
        seed: the catalog's seed (the same as for :func:`zh_catalog`).
        days: as for :func:`zh_catalog` (the texts do not depend on it).

    Returns:
        Columns ``item_id``, ``title_en``, ``description_en``, ``category_en`` (all String), in
        catalog order.

    Raises:
        InvalidInputError: as for :func:`zh_catalog`.
    """
    _check(seed, days)
    chosen = [p for p in _products(seed, days) if p.translated]
    return pl.DataFrame(
        {
            "item_id": [p.item_id for p in chosen],
            "title_en": [p.title("en") for p in chosen],
            "description_en": [p.description("en") for p in chosen],
            "category_en": [CATEGORIES[p.category].name.en for p in chosen],
        },
        schema={
            "item_id": pl.String,
            "title_en": pl.String,
            "description_en": pl.String,
            "category_en": pl.String,
        },
    )


def _cumulative(weights: np.ndarray) -> np.ndarray:
    return np.cumsum(weights / weights.sum())


def _draw(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    """Index drawn from cumulative probabilities (the last one guards against rounding)."""
    return min(len(cumulative) - 1, int(np.searchsorted(cumulative, rng.random())))


class _Shop:
    """The simulated world: products, their popularity and similarity, and the events so far."""

    def __init__(self, products: list[_Product], rng: np.random.Generator, days: int) -> None:
        self.products = products
        self.rng = rng
        self.end = START_TS + days * DAY
        self.days = days
        n_cat = len(CATEGORIES)
        self.launch = np.array([p.launch for p in products])
        price = np.array([p.price for p in products])
        self.members = [
            np.array([i for i, p in enumerate(products) if p.category == c]) for c in range(n_cat)
        ]
        # popularity: Zipf within each category, a novelty boost for products launched in the
        # period; prices relative to the category's median
        self.popularity = np.empty(len(products))
        self.rel_price = np.empty(len(products))
        for idx in self.members:
            self.popularity[idx] = np.arange(1, len(idx) + 1)[rng.permutation(len(idx))] ** -ZIPF
            self.rel_price[idx] = price[idx] / np.median(price[idx])
        self.popularity[self.launch >= START_TS] *= NOVELTY
        # similar items: same category, weighted by shared kind, feature, brand and audience
        self.similar: list[np.ndarray] = []
        for i, p in enumerate(products):
            idx = self.members[p.category]
            shared = np.array(
                [
                    2.0 * (q.kind == p.kind)
                    + (q.feature == p.feature)
                    + (q.brand == p.brand)
                    + (q.audience == p.audience and bool(p.audience.zh))
                    for q in (products[j] for j in idx)
                ]
            )
            w = self.popularity[idx] * shared**2
            w[idx == i] = 0.0
            self.similar.append(w)
        self.category_pop = rng.dirichlet(np.full(n_cat, 5.0))  # some categories draw more
        self.hour_cum = _cumulative(np.array(HOUR_WEIGHTS))
        self.columns: dict[str, list[str]] = {"user_id": [], "item_id": [], "type": []}
        self.sessions: list[str] = []
        self.stamps: list[float] = []

    def emit(self, user: str, item: int, kind: str, ts: float, session: str) -> None:
        self.columns["user_id"].append(user)
        self.columns["item_id"].append(self.products[item].item_id)
        self.columns["type"].append(kind)
        self.stamps.append(ts)
        self.sessions.append(session)

    def shopper(self, user: str) -> None:
        """Simulate one shopper's sessions (see the module docstring)."""
        rng, n_cat = self.rng, len(CATEGORIES)
        n_fav = int(rng.choice(3, p=[0.3, 0.45, 0.25])) + 1
        favs = [int(c) for c in rng.choice(n_cat, size=n_fav, replace=False, p=self.category_pop)]
        fav_cum = _cumulative(rng.dirichlet(np.full(n_fav, 2.0)))
        sensitivity = float(rng.beta(2.0, 2.0))
        tilt = self.rel_price ** (-1.5 * sensitivity)
        item_cum = [_cumulative(self.popularity[idx] * tilt[idx]) for idx in self.members]

        def pick(ts: float) -> int:
            """A product launched by ``ts``, drawn from the shopper's preferences."""
            explore = rng.random() < EXPLORE
            c = int(rng.integers(n_cat)) if explore else favs[_draw(rng, fav_cum)]
            idx = self.members[c]
            for _ in range(20):
                i = int(idx[_draw(rng, item_cum[c])])
                if self.launch[i] <= ts:
                    return i
            return int(idx[np.argmax(np.where(self.launch[idx] <= ts, self.popularity[idx], -1.0))])

        day = float(rng.integers(self.days))  # the day the shopper arrives
        t = START_TS
        for s in range(1 + int(rng.poisson(SESSIONS_MEAN))):
            if s:
                day += np.floor(rng.exponential(SESSION_GAP_DAYS)) + 1
            hour = _draw(rng, self.hour_cum)
            start = START_TS + day * DAY + hour * 3600.0 + float(rng.integers(3600))
            t = max(t + 1800.0, start) if s else start  # sessions never overlap
            if t >= self.end:
                break
            session = f"{user}-s{s + 1:02d}"
            carted: list[int] = []
            seen: set[int] = set()
            last = -1
            for _ in range(min(30, int(rng.geometric(1.0 / VIEWS_MEAN)))):
                i = -1
                if last >= 0 and rng.random() < SIMILAR:
                    idx = self.members[self.products[last].category]
                    w = self.similar[last] * (self.launch[idx] <= t)
                    if w.sum() > 0:
                        i = int(idx[_draw(rng, _cumulative(w))])
                if i < 0:
                    for _ in range(3):  # a shopper rarely opens the same page twice in a session
                        i = pick(t)
                        if i not in seen:
                            break
                seen.add(i)
                if rng.random() < CLICK_FIRST:
                    self.emit(user, i, "click", t, session)
                    t += float(rng.integers(1, 4))
                self.emit(user, i, "view", t, session)
                dwell = float(rng.integers(20, 181))
                affinity = 1.0 if self.products[i].category in favs else CART_EXPLORE
                p_cart = CART * affinity * self.rel_price[i] ** (-0.5 * sensitivity)
                if i not in carted and rng.random() < p_cart:
                    self.emit(user, i, "add_to_cart", t + dwell // 2, session)
                    carted.append(i)
                t += dwell
                last = i
            for i in carted:
                if rng.random() < BUY * self.rel_price[i] ** (-0.3 * sensitivity):
                    t += float(rng.integers(30, 121))
                    self.emit(user, i, "purchase", t, session)

    def events(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {**self.columns, "ts": self.stamps, "session_id": self.sessions},
            schema={
                "user_id": pl.String,
                "item_id": pl.String,
                "type": pl.String,
                "ts": pl.Float64,
                "session_id": pl.String,
            },
        )
        return frame.filter(pl.col("ts") < self.end).sort(["user_id", "ts"], maintain_order=True)


def zh_shop(
    seed: int = 7, n_users: int = 1500, days: int = 60
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The synthetic ``zh-shop`` demo: simulated shoppers' events and the Chinese catalog.

    Args:
        seed: seed of the catalog and the shoppers; the same arguments give the same frames.
        n_users: how many shoppers to simulate (``u0001``...).
        days: length of the period, from 2026-09-01 00:00 Asia/Shanghai.

    Returns:
        ``(events, catalog)``: ``events`` has columns ``user_id``, ``item_id``, ``type``
        (``view``, ``click``, ``add_to_cart``, ``purchase``), ``ts`` (Float64, whole Unix
        seconds) and ``session_id``, sorted by ``(user_id, ts)``; at the defaults about 26,000
        views, 10% of them carted and about 40% of the carts bought. ``catalog`` is
        :func:`zh_catalog` for the same ``seed`` and ``days``.

    Raises:
        InvalidInputError: a negative or non-integer seed, ``n_users < 1`` or ``days < 1``.

    Example:
        >>> events, catalog = zh_shop(n_users=20)
        >>> sorted(events["type"].unique())[:2]
        ['add_to_cart', 'click']
    """
    _check(seed, days, n_users)
    products = _products(seed, days)
    shop = _Shop(products, np.random.default_rng([seed, 1]), days)  # the shoppers' own stream
    width = max(4, len(str(n_users)))
    for u in range(n_users):
        shop.shopper(f"u{u + 1:0{width}d}")
    return shop.events(), _catalog_frame(products)
