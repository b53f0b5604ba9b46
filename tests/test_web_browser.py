"""A person in a real browser: headless Chromium fills the sign-up form on a live `digest
serve`, confirms from the emailed link, and later leaves with the unsubscribe button."""

from __future__ import annotations

from digest.compose import tokens
from digest.store import yamllist as subscribers

from .helpers_chromium import chromium_driver
from .helpers_web import ARTIFACTS, SECRET, confirm_link, confirmation, serving

HEADING = "const h = document.querySelector('h1'); return h ? h.textContent : ''"


def wait_for_heading(driver, text: str) -> None:
    """Until the page's h1 says `text`. Read in the page itself, in one step: an element handle
    fetched first can belong to the page a form post is leaving ("Node with given id does not
    belong to the document"), which is navigation, not a failure."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def heading(d) -> bool:
        try:
            return text in d.execute_script(HEADING)
        except WebDriverException:  # the page is being replaced
            return False

    WebDriverWait(driver, 15).until(heading)


def test_a_reader_in_tokyo_subscribes_in_chromium_and_confirms_from_the_email(project):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(project) as base, chromium_driver(timezone="Asia/Tokyo") as driver:
        driver.get(f"{base}/subscribe")
        wait_for_heading(driver, "Trending papers in your inbox")
        # the page's script picked the browser's time zone
        zone = Select(driver.find_element(By.NAME, "timezone"))
        WebDriverWait(driver, 10).until(lambda d: zone.first_selected_option.text == "Asia/Tokyo")

        driver.find_element(By.NAME, "email").send_keys("kenji@example.org")
        driver.find_element(By.CSS_SELECTOR, "input[name=topics][value=retrieval]").click()
        driver.find_element(By.CSS_SELECTOR, "input[name=topics][value=speech-audio]").click()
        driver.find_element(By.NAME, "keywords").send_keys("tokenizer, speech recognition")
        Select(driver.find_element(By.NAME, "frequency")).select_by_value("weekdays")
        assert not driver.find_element(By.NAME, "website").is_displayed()  # the honeypot is out of sight
        driver.save_screenshot(str(ARTIFACTS / "subscribe-form-800.png"))
        driver.set_window_size(375, 1500)
        driver.save_screenshot(str(ARTIFACTS / "subscribe-form-375.png"))
        overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, "the form scrolls sideways on a 375 px phone"
        driver.set_window_size(800, 1200)

        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_heading(driver, "Check your inbox")
        link = confirm_link(confirmation(project, "kenji@example.org"))
        assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "pending"
        driver.get(link)
        wait_for_heading(driver, "Confirm your subscription")
        assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "pending"
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_heading(driver, "You're subscribed")
        kenji = subscribers.find(project / "subscribers.yaml", "kenji@example.org")
        assert (kenji.status, kenji.timezone, kenji.frequency) == ("active", "Asia/Tokyo", "weekdays")
        assert kenji.send_at == "07:00"  # the form's default
        assert (sorted(kenji.topics), kenji.keywords) == (
            ["retrieval", "speech-audio"],
            ["tokenizer", "speech recognition"],
        )

        # later, from a digest's footer: the page asks first, the button unsubscribes
        driver.get(f"{base}/unsubscribe?token={tokens.sign(SECRET, 'unsubscribe', 'kenji@example.org')}")
        wait_for_heading(driver, "Unsubscribe")
        assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "active"
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_heading(driver, "You are unsubscribed")
        assert subscribers.find(project / "subscribers.yaml", "kenji@example.org").status == "unsubscribed"
    print(f"\nscreenshots: {ARTIFACTS / 'subscribe-form-800.png'}, {ARTIFACTS / 'subscribe-form-375.png'}")
